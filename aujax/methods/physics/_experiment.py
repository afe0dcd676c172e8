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

import jax
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
    """Estimated against true muscle activity on the test frames of one fold (synthetic), scored
    on what the physics identifies (:func:`aujax.train.force_scores`; issue 17), with the oracle
    and trivial baselines and the physics inversion beside the networks' forces."""
    out = _force_scores(ex)
    names = list(out)
    report.section(
        "forces",
        "### Estimated vs true muscle activity (synthetic ground truth)\n\n"
        "| estimate | synergy r (pooled) | synergy r (per sequence) | pair r | null error |\n"
        "|---|---|---|---|---|\n"
        + "".join(
            f"| {k} | {v['synergy_r']:.3f} | {v['synergy_r_sequence']:.3f} | {v['pair_r']:.3f} "
            f"| {v['null_error']:.3f} |\n"
            for k, v in out.items()
        )
        + "\nFold test frames covered by the networks' windows. Synergy r: Pearson r of the "
        "activations' coordinates on the AU synergies, measured through g (s = (g A^T)^+ g a), "
        "mean over AUs; pair r: left + right; null error: ||g (a_hat - a)|| / ||g a||; a constant "
        "estimate scores r = 0. Oracle: A^T times the true intensities; trivial: A^T times the "
        "engine's coefficients; inversion: aujax.physics.invert_activations of those "
        "coefficients (lambda chosen on training sequences). Paper forces are signed projections "
        "on each muscle's mean pull direction.\n",
        csv_table(["estimate", "synergy_r", "synergy_r_sequence", "pair_r", "null_error"],
                  [(k, [out[k][c] for c in ("synergy_r", "synergy_r_sequence", "pair_r",
                                            "null_error")]) for k in names]),
    )  # fmt: skip
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
    return _true_values(root, table, rows, "activations")


def _true_values(root, table: FrameTable, rows: np.ndarray, key: str) -> np.ndarray:
    """A per-frame ground-truth array (``activations``, ``intensity``) of table ``rows``."""
    out = None
    cache: dict = {}
    for j, r in enumerate(rows):
        seq = (str(table.subject[r]), str(table.task[r]))
        if seq not in cache:
            with np.load(root / "synthetic" / f"{seq[0]}_{seq[1]}.npz") as z:
                cache[seq] = np.asarray(z[key])
        values = cache[seq]
        if out is None:
            out = np.zeros((len(rows), values.shape[1]))
        out[j] = values[int(table.frame[r]) - 1]  # BP4D frame numbers start at 1
    return out


def _sequence_ids(table: FrameTable, rows: np.ndarray) -> np.ndarray:
    key = np.char.add(
        np.char.add(table.subject[rows].astype(str), "_"), table.task[rows].astype(str)
    )
    return np.unique(key, return_inverse=True)[1]


def _inverted(ex: _Experiment, rows: np.ndarray, smoothness: float) -> np.ndarray:
    """Activations (len(rows), M) from the physics inversion of the coefficients of every sequence
    the rows belong to (whole sequences, in frame order)."""
    import jax.numpy as jnp

    from ...physics import invert_activations

    cfg, table = ex.cfg, ex.table
    reduced = jax.tree.map(lambda x: None if x is None else jnp.asarray(x, jnp.float64),
                           ex.template.reduced)  # fmt: skip
    syn = jnp.asarray(ex.template.au_muscle_weights, jnp.float64)
    wanted = set(zip(table.subject[rows].tolist(), table.task[rows].tolist(), strict=True))
    found = np.zeros((len(table), ex.template.n_muscles))
    for s, t, seq in table.sequences():
        if (s, t) not in wanted or len(seq) < 2:
            continue
        inv = invert_activations(
            reduced, jnp.asarray(np.nan_to_num(table.c[seq]), jnp.float64),
            dt=1.0 / cfg.forces.fps, synergies=syn, smoothness=smoothness,
            window=cfg.forces.window, valid=jnp.asarray(table.c_mask[seq]),
        )  # fmt: skip
        found[seq] = np.asarray(inv.activations)
    return found[rows]


def _force_scores(ex: _Experiment) -> dict:
    """The force table's rows: oracle, trivial, inversion and the two networks' forces."""
    from ...train import bilateral_pairs, force_scores

    cfg, table, template = ex.cfg, ex.table, ex.template
    fold = cfg.forces.fold
    g = np.asarray(template.reduced.force_map, np.float64)
    syn = np.asarray(template.au_muscle_weights, np.float64)
    pairs = bilateral_pairs(template.muscle_names)

    def scores(est, rows):
        sc = force_scores(est, _true_activations(ex.root, table, rows), force_map=g,
                          synergies=syn, pairs=pairs, sequences=_sequence_ids(table, rows))  # fmt: skip
        return {"synergy_r": sc.mean_synergy_r,
                "synergy_r_sequence": float(np.nanmean(sc.synergy_r_sequence)),
                "pair_r": sc.mean_pair_r, "null_error": sc.null_error,
                "per_au": dict(zip(template.aus, sc.synergy_r.tolist(), strict=True))}  # fmt: skip

    with jax.enable_x64(True):
        # the inversion's smoothness: the best of a small grid on a few training sequences
        rng = np.random.default_rng(cfg.seed)
        train_subjects = set(table.subject[ex.split(fold).train].tolist())
        train_seqs = [r for s, _, r in table.sequences() if s in train_subjects]
        pick = rng.permutation(len(train_seqs))[: cfg.forces.tune_sequences]
        tune = np.concatenate([train_seqs[i] for i in sorted(pick)])
        lam = max(cfg.forces.smoothness_grid,
                  key=lambda v: scores(_inverted(ex, tune, v), tune)["synergy_r"])  # fmt: skip
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
        pred = predict_physics(st, cfg=cfg, table=table, rows=ex.split(fold).test)
        rows = pred["rows"]
        if not out:  # the baselines on the same frames
            inten = _true_values(ex.root, table, rows, "intensity")
            out["oracle: A^T x true intensities"] = scores(inten @ syn, rows)
            out["trivial: A^T x engine coefficients"] = scores(np.nan_to_num(table.c[rows]) @ syn,
                                                               rows)  # fmt: skip
            with jax.enable_x64(True):
                out[f"physics inversion (lambda {lam:g})"] = scores(_inverted(ex, rows, lam), rows)
        f = np.asarray(pred["forces"], np.float64)
        if f.ndim == 3:  # paper vectors: signed magnitude along each muscle's mean pull
            from ...train import signed_projection

            d = np.einsum("im,imd->md", np.asarray(template.distribution, np.float64),
                          np.asarray(template.directions, np.float64))  # fmt: skip
            f = signed_projection(f, d)
        out[f"{dynamics} network ({mode})"] = scores(f, rows)
    ex.run.log("forces: " + ", ".join(f"{k} r = {v['synergy_r']:.3f}" for k, v in out.items()))
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
