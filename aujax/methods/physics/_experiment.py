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
    results/table1.{md,csv}     and table4, table5, forces, claims; results.json (all, with the
                                label-free rows' lambda and thresholds per fold)
    figures/figure4.png         activation per AU synergy vs labels (and the truth) over a test
                                window chosen for its label changes; figure5.png the inversion's
                                force field on the mesh beside the true one and the frame

Everything derived from the data (the dataset when synthetic, its TFDS files, the reconstructed
coefficients) is cached under the cache directory and shared between runs.
"""

import csv
import dataclasses
import functools
import io

import numpy as np

from ...datasets import BP4D_AUS, DISFA_DETECTION_AUS, NOT_CODED, FrameTable, cache_root
from ...synth import TEMPLATE_TAG
from ...train import (
    Report,
    Run,
    SubjectFolds,
    au_header,
    csv_table,
    data_mesh,
    fold_f1_lines,
    markdown_table,
    model_of,
    signed_projection,
    synergy_coordinates,
    table_f1,
)
from ._activity import (
    invert_table,
    label_free_detection,
    sequence_ids,
    synergy_columns,
    true_values,
)
from ._calibration import choose_baseline_quantile, fit_subject_calibration
from ._figures import choose_window, figure4, figure5
from ._template import build_physics_template
from ._train import (
    PhysicsSpec,
    covering_windows,
    predict_image,
    predict_physics,
    train_image,
    train_physics,
)


__all__ = ["CLAIMS", "EXPERIMENT", "LABEL_FREE_ROWS", "ROWS", "claims", "row_spec",
           "train_and_evaluate"]  # fmt: skip

EXPERIMENT = "bp4d_physics"
# table 1 rows without AU-trained weights (issue 17): per-AU scores thresholded, the thresholds
# (and the inversion's lambda) chosen on the fold's training subjects
INVERSION_ROW = "physics inversion (no AU labels)"
COEFFICIENT_ROW = "coefficients (no AU labels)"
LABEL_FREE_ROWS = (INVERSION_ROW, COEFFICIENT_ROW)
ROWS = ("3D geometry", "3D force", "3D position", "3D physics", "2D image", "physics + image",
        *LABEL_FREE_ROWS)  # fmt: skip


def row_spec(row: str, cfg) -> PhysicsSpec:
    """The physics-branch model behind a table 1 row (seed 001 §4.1)."""
    lam = float(cfg.loss.reconstruction)
    m = _model_choice(cfg)
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


def _model_choice(cfg) -> dict:
    """The physics branch's configured choices (``cfg.model``) as PhysicsSpec fields."""
    return dict(force_mode=cfg.model.force_mode, dynamics=cfg.model.dynamics,
                force_source=cfg.model.get("force_source", "network"),
                mass_source=cfg.model.get("mass_source", "network"))  # fmt: skip


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
        dict of the tables (``table1``, ``table4``, ``table5``, ``forces``, ``claims``) as nested
        dicts, and ``label_free``: per fold and label-free row, the lambda and thresholds chosen.
    """
    cfg = config
    if cfg.get("experiment", EXPERIMENT) != EXPERIMENT:
        raise ValueError(f"config.experiment must be {EXPERIMENT!r}, got {cfg.experiment!r}.")
    run = Run(cfg, workdir, experiment=EXPERIMENT, train=train, step=step, echo=echo,
              provenance={"synthetic_generator": TEMPLATE_TAG})  # fmt: skip
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
    results["label_free"] = ex.label_free
    if cfg.table4.enabled:
        results["table4"] = table4(ex, report)
    if cfg.table5.enabled:
        results["table5"] = table5(ex, report)
    if cfg.forces.enabled and ex.synthetic:
        results["forces"] = force_study(ex, report)
    results["claims"] = claims(results, report)
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
        self.label_free: dict = {}  # fold -> label-free row -> the lambda and thresholds chosen
        self.memo: dict = {}  # the inversion's drive per (subject, task, lambda, window)
        self._activations: dict = {}  # id(table) -> (table, its rows' inverted activations)

    def spec(self, reconstruction: float, **kw) -> PhysicsSpec:
        """The 3D physics model (forces and positions) with lambda_3d ``reconstruction``."""
        m = _model_choice(self.cfg)
        return PhysicsSpec(("force", "position"), reconstruction=reconstruction, **(m | kw))

    def fit_physics(self, names, spec: PhysicsSpec, fold: int, z2d=None):
        s = self.split(fold)
        a_inv = None if spec.force_source == "network" else self.activations(self.table)
        return self.run.fit(names, functools.partial(
            train_physics, cfg=self.cfg, table=self.table, rows=s.train, template=self.template,
            spec=spec, z2d=z2d, mesh=self.mesh, seed=self.cfg.seed, val_rows=s.validation,
            a_inv=a_inv,
        ))  # fmt: skip

    def fit_image(self, fold: int):
        s = self.split(fold)
        return self.run.fit((f"fold{fold}", "image"), functools.partial(
            train_image, cfg=self.cfg, table=self.table, rows=s.train, mesh=self.mesh,
            seed=self.cfg.seed, val_rows=s.validation,
        ))  # fmt: skip

    def drive(self, rows, smoothness: float, table: FrameTable | None = None,
              memo: dict | None = None) -> np.ndarray:  # fmt: skip
        """The physics inversion's drive per template AU synergy (n, 17) of ``rows`` of ``table``
        (default the BP4D table; whole sequences inverted, memoised; config ``inversion``)."""
        inv = self.cfg.inversion
        return invert_table(
            self.table if table is None else table, rows, reduced=self.template.reduced,
            synergies=self.template.au_muscle_weights, dt=1.0 / inv.fps, window=inv.window,
            smoothness=smoothness, memo=self.memo if memo is None else memo,
        )  # fmt: skip

    def activations(self, table: FrameTable) -> np.ndarray:
        """(N, M) float32 the inversion's activations of every row of ``table`` (lambda
        ``inversion.force_smoothness``): the input of an inversion-fed force layer."""
        if id(table) not in self._activations:
            lam = float(self.cfg.inversion.get("force_smoothness", 1.0))
            memo = self.memo if table is self.table else {}
            with self.run.timed(f"inversion of {len(table)} frames (force layer, lambda {lam:g})"):
                drive = self.drive(np.arange(len(table)), lam, table=table, memo=memo)
            act = drive @ np.asarray(self.template.au_muscle_weights, np.float64)
            self._activations[id(table)] = (table, act.astype(np.float32))
        return self._activations[id(table)][1]

    def predict(self, state, rows, *, table: FrameTable | None = None, z2d=None) -> dict:
        """:func:`predict_physics` of a state on ``rows`` of ``table`` (default the BP4D table),
        with the inversion's activations when the model's force layer takes them."""
        table = self.table if table is None else table
        a_inv = None
        if model_of(state).force_source != "network":
            a_inv = self.activations(table)
        return predict_physics(state, cfg=self.cfg, table=table, rows=rows, z2d=z2d, a_inv=a_inv)

    def sample_sequences(self, rows, n: int) -> np.ndarray:
        """The rows of ``n`` whole sequences drawn (seeded) among those of ``rows``' subjects."""
        subjects = set(self.table.subject[rows].tolist())
        seqs = [r for s, _, r in self.table.sequences() if s in subjects]
        pick = np.random.default_rng(self.cfg.seed).permutation(len(seqs))[:n]
        return np.concatenate([seqs[i] for i in sorted(pick)])

    def f1(self, state, rows, z2d=None) -> np.ndarray:
        """Per-AU F1 of a physics-branch model on the frames of ``rows`` its windows cover."""
        pred = self.predict(state, rows, z2d=z2d)
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
            if row in LABEL_FREE_ROWS:
                per_fold[row].append(_label_free_f1(ex, fold, row))
                continue
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
        note="Frame-based F1 (threshold 0.5, 9s skipped), per fold then averaged over folds."
        + (" Rows '(no AU labels)': a per-AU score with no AU-trained weights -- the physics "
           "inversion's drive per AU synergy (lambda from the config's grid) or the coefficient "
           "itself -- thresholded per AU; thresholds and lambda maximise F1 on sequences of the "
           "fold's training subjects." if set(LABEL_FREE_ROWS) & set(cfg.rows) else ""),
    )  # fmt: skip
    return record


def _label_free_f1(ex: _Experiment, fold: int, row: str) -> np.ndarray:
    """Per-AU test F1 of a label-free row (``LABEL_FREE_ROWS``) on the fold's covered test frames;
    its thresholds (and the inversion's lambda) are chosen on training sequences."""
    cfg, table = ex.cfg, ex.table
    split = ex.split(fold)
    cols = synergy_columns(table.aus, ex.template.aus)
    tune = ex.sample_sequences(split.train, cfg.inversion.threshold_sequences)
    if row == INVERSION_ROW:
        grid = tuple(float(v) for v in cfg.inversion.smoothness_grid)

        def score(rows, lam):
            return ex.drive(rows, lam)[:, cols]
    else:
        grid = (None,)

        def score(rows, _):
            return np.nan_to_num(table.c[rows][:, cols])

    with ex.run.timed(f"fold{fold}/{row}: lambda and thresholds on {len(tune)} training frames"):
        det = label_free_detection(score, table, tune, grid=grid, aus=table.aus)
    if fold in det.thresholds.folds:  # the thresholds saw a test subject of this fold
        raise AssertionError(f"fold {fold}: {row} thresholds touched its test subjects.")
    ex.label_free.setdefault(f"fold{fold}", {})[row] = {
        "smoothness": det.smoothness,
        "train_f1": {str(k): v for k, v in det.train_f1.items()},
        "thresholds": dict(zip(table.aus, det.thresholds.thresholds.tolist(), strict=True)),
    }
    test = _covered(table, split.test, cfg.model.window)
    with ex.run.timed(f"fold{fold}/{row}: {len(test)} test frames"):
        pred = det.thresholds.detect(score(test, det.smoothness))
    return table_f1(pred, table, test)


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
        pred = ex.predict(st, np.arange(len(disfa)), table=disfa)
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


# seed 001's claims (its tables 1, 4, 5 and section 4.4) and the paper's figures for them
CLAIMS = (
    ("physics beats geometry (table 1: 3D physics vs 3D geometry)", "57.3 vs 47.0"),
    ("physics + image beats each branch (table 1)", "64.1 vs 57.3 / 58.7"),
    ("the reconstruction loss helps with few labels (table 4: AU + rec. vs AU at 50/20/5 %)",
     "+7.2 / +9.6 / +5.1"),
    ("physics transfers better across datasets (table 5: physics-based vs data-driven)",
     "38.8 vs 32.1"),
    ("the estimated forces follow muscle activity (force table: best network vs trivial r)",
     "qualitative (fig. 4)"),
)  # fmt: skip


def claims(results: dict, report: Report | None = None) -> dict:
    """The claims table: each claim of seed 001, the paper's figure, ours, and whether it holds.

    Args:
        results: the run's tables (``table1``, ``table4``, ``table5``, ``forces``) as returned by
            :func:`train_and_evaluate`; a claim whose table did not run is "not run".
        report: where the table goes (section ``claims``), or None.

    Returns:
        claim -> ``{"paper", "ours", "holds"}`` (holds: True, False or None when not run).
    """
    t1, t4, t5, forces = (results.get(k) or {} for k in ("table1", "table4", "table5", "forces"))

    def avg(row):
        return t1[row]["avg"] if row in t1 else None

    found: list = []
    geo, phys, img, both = (avg(r) for r in ("3D geometry", "3D physics", "2D image",
                                             "physics + image"))  # fmt: skip
    found.append((phys, geo) if None not in (phys, geo) else None)
    found.append((both, phys, img) if None not in (both, phys, img) else None)
    gains = [v["AU + reconstruction"] - v["AU"] for v in t4.values()]
    found.append(tuple(gains) if gains else None)
    found.append((t5["physics-based"]["avg"], t5["data-driven"]["avg"]) if t5 else None)
    nets = [v["synergy_r"] for k, v in forces.items() if "network" in k]
    trivial = [v["synergy_r"] for k, v in forces.items() if k.startswith("trivial")]
    found.append((max(nets), trivial[0]) if nets and trivial else None)

    def verdict(i, f):
        if f is None:
            return "not run", None
        if i == 0:
            return f"{100 * f[0]:.1f} vs {100 * f[1]:.1f}", f[0] > f[1]
        if i == 1:
            return f"{100 * f[0]:.1f} vs {100 * f[1]:.1f} / {100 * f[2]:.1f}", f[0] > max(f[1:])
        if i == 2:
            return " / ".join(f"{100 * g:+.1f}" for g in f), all(g > 0 for g in f)
        if i == 3:
            return f"{100 * f[0]:.1f} vs {100 * f[1]:.1f}", f[0] > f[1]
        return f"r {f[0]:.3f} vs {f[1]:.3f}", f[0] > f[1]

    record, lines = {}, []
    for i, ((claim, paper), f) in enumerate(zip(CLAIMS, found, strict=True)):
        ours, holds = verdict(i, f)
        record[claim] = {"paper": paper, "ours": ours, "holds": holds}
        lines.append((claim, paper, ours, {True: "yes", False: "no", None: "-"}[holds]))
    if report is not None:
        report.section(
            "claims",
            "### Claims of seed 001\n\n| claim | paper | ours | holds |\n|---|---|---|---|\n"
            + "".join(f"| {c} | {p} | {o} | {h} |\n" for c, p, o, h in lines)
            + "\nOurs: the tables above (F1 in %, averages over AUs and folds; forces: mean "
            "synergy r). Holds: our figure orders the two sides as the paper's does.\n",
            _csv_text(["claim", "paper", "ours", "holds"], lines),
        )  # fmt: skip
    return record


def figures(ex: _Experiment, *, length: int = 80) -> None:
    """Figures 4 and 5 (seed 001 §4.4, redrawn for issue 17) from the first fold with a 3D physics
    model, on the test sequence whose best ``length``-frame window has the most label onsets and
    offsets (:func:`choose_window`).

    Figure 4: per AU of the table, the activation of its synergy estimated by the physics inversion
    (lambda as chosen for table 1's label-free row, else 1) and by the 3D physics network (its
    forces' synergy coordinates through g, rescaled per AU to the truth's, or the inversion's,
    range: their units are arbitrary), against the label and, on synthetic data, the true
    activation. Figure 5: the frame of that window with the strongest AU12 drive among those coded
    AU12 (else the strongest), the inversion's nodal force field on the template mesh beside the
    true one (synthetic) and the frame.
    """
    keys = [k for k in ex.states if k[1] == "3D physics"]
    if not keys:
        return  # figure 4 compares with a 3D physics model
    fold = keys[0][0]
    cfg, table, template = ex.cfg, ex.table, ex.template
    te = set(ex.split(fold).test_subjects)
    best = None
    for s, t, rows in table.sequences():
        if s not in te or len(rows) < cfg.model.window:
            continue
        n = min(length, len(rows))
        lab = np.where(table.label_mask[rows], table.labels[rows], NOT_CODED)
        start = choose_window(lab, length=n)
        w = lab[start : start + n]
        changes = int(np.sum((w[1:] != w[:-1]) & (w[1:] != NOT_CODED) & (w[:-1] != NOT_CODED)))
        if best is None or changes > best[0]:
            best = (changes, s, t, rows[start : start + n])
    if best is None:
        return
    _, s, t, rows = best
    cols = synergy_columns(table.aus, template.aus)
    g = np.asarray(template.reduced.force_map, np.float64)
    syn = np.asarray(template.au_muscle_weights, np.float64)
    chosen = ex.label_free.get(f"fold{fold}", {}).get(INVERSION_ROW, {}).get("smoothness")
    lam = 1.0 if chosen is None else float(chosen)
    inv = ex.drive(rows, lam)  # (n, 17) drive per synergy
    truth = None
    if ex.synthetic:
        true_act = true_values(ex.root, table, rows, "activations")
        truth = synergy_coordinates(true_act, force_map=g, synergies=syn)[:, cols]
    pred = ex.predict(ex.states[(fold, "3D physics")], rows)
    net = np.full((len(rows), len(cols)), np.nan)
    at = {int(r): i for i, r in enumerate(rows)}
    coords = synergy_coordinates(_network_activations(ex, pred["forces"]), force_map=g,
                                 synergies=syn)[:, cols]  # fmt: skip
    for j, r in enumerate(pred["rows"]):
        net[at[int(r)]] = coords[j]
    ref = truth if truth is not None else inv[:, cols]
    span = np.nanmax(np.abs(net), axis=0)
    net = net * np.where(span > 0, np.max(np.abs(ref), axis=0) / np.where(span > 0, span, 1), 0)
    figs = ex.run.workdir / "figures"
    figs.mkdir(exist_ok=True)
    labels = np.where(table.label_mask[rows], table.labels[rows], NOT_CODED)
    figure4(
        figs / "figure4.png", frames=table.frame[rows], aus=table.aus, labels=labels,
        estimates={f"physics inversion (lambda {lam:g})": inv[:, cols],
                   "3D physics network (scaled)": net},
        truth=truth, title=f"{s} {t}, fold {fold} test",
    )  # fmt: skip
    k12 = {a: i for i, a in enumerate(template.aus)}.get(12, 0)
    j12 = {a: i for i, a in enumerate(table.aus)}.get(12)
    coded12 = labels[:, j12] == 1 if j12 is not None else np.zeros(len(rows), bool)
    pool = np.flatnonzero(coded12) if coded12.any() else np.arange(len(rows))
    i = int(pool[np.argmax(inv[pool, k12])])
    act = inv[i] @ syn
    figure5(
        figs / "figure5.png", vertices=np.asarray(template.neutral),
        triangles=np.asarray(template.triangles), estimated=template.vertex_forces(act),
        truth=None if truth is None else template.vertex_forces(true_act[i]),
        image=None if table.images is None else table.images[rows[i]],
        title=f"{s} {t} frame {int(table.frame[rows[i]])} (AU12 label "
        f"{'1' if coded12[i] else '0/9'}); estimated: physics inversion",
    )  # fmt: skip
    ex.run.log(f"figures: {figs / 'figure4.png'}, {figs / 'figure5.png'}")


def _network_activations(ex: _Experiment, forces) -> np.ndarray:
    """(n, m) directed activations of a network's forces: galerkin activations as they are, paper
    vectors as signed magnitudes along each muscle's mean pull direction."""
    f = np.asarray(forces, np.float64)
    if f.ndim == 3:
        t = ex.template
        d = np.einsum("im,imd->md", np.asarray(t.distribution, np.float64),
                      np.asarray(t.directions, np.float64))  # fmt: skip
        f = signed_projection(f, d)
    return f


# ------------------------------------------------------------------------------------------------
# helpers of the steps


def _csv_text(header, lines) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return out.getvalue()


def _subset(table: FrameTable, cols) -> FrameTable:
    return dataclasses.replace(table, labels=table.labels[:, cols], label_mask=table.label_mask[:, cols],
                               aus=tuple(table.aus[c] for c in cols))  # fmt: skip


def _covered(table: FrameTable, rows, window: int) -> np.ndarray:
    """The frames the window-based rows are evaluated on (so every row scores the same frames)."""
    wins, owner = covering_windows(table, rows, window)
    return np.sort(wins[owner])


def _calibrated_inversion(ex: _Experiment, fold: int, tune, rows, scores) -> tuple[str, dict]:
    """The force table's row "physics inversion of the subject-calibrated c" on ``rows``.

    :class:`SubjectCalibration` fitted on every frame of the fold's training subjects against
    their AU intensities (the synthetic copy's; the force table exists on synthetic data only),
    its baseline quantile chosen on two halves of those subjects, lambda on the ``tune``
    sequences (config ``forces.calibration``); the test subjects contribute no label.
    """
    cfg, table = ex.cfg, ex.table
    opts = cfg.forces.calibration
    syn = np.asarray(ex.template.au_muscle_weights, np.float64)
    train = ex.split(fold).train
    targets = true_values(ex.root, table, train, "intensity")
    sigma = float(opts.sigma)

    def held_out(calibrated, held):
        return scores(calibrated @ syn, held)["synergy_r"]

    with ex.run.timed(f"forces/fold{fold}: subject calibration on {len(train)} training frames"):
        q = choose_baseline_quantile(table, train, targets, sigma=sigma, score=held_out,
                                     quantiles=tuple(float(v) for v in opts.quantiles))  # fmt: skip
        calibrated = fit_subject_calibration(table, train, targets, sigma=sigma, quantile=q)(table)
        memo: dict = {}  # this table's own inversions
        lam = max((float(v) for v in opts.smoothness_grid),
                  key=lambda v: scores(ex.drive(tune, v, table=calibrated, memo=memo) @ syn,
                                       tune)["synergy_r"])  # fmt: skip
        est = scores(ex.drive(rows, lam, table=calibrated, memo=memo) @ syn, rows)
    name = (f"physics inversion of the subject-calibrated c (q {q:g}, sigma {sigma:g}, "
            f"lambda {lam:g})")  # fmt: skip
    return name, est


def _force_scores(ex: _Experiment) -> dict:
    """The force table's rows: oracle, trivial, inversion and the two networks' forces."""
    from ...train import bilateral_pairs, force_scores

    cfg, table, template = ex.cfg, ex.table, ex.template
    fold = cfg.forces.fold
    g = np.asarray(template.reduced.force_map, np.float64)
    syn = np.asarray(template.au_muscle_weights, np.float64)
    pairs = bilateral_pairs(template.muscle_names)

    def scores(est, rows):
        sc = force_scores(est, true_values(ex.root, table, rows, "activations"), force_map=g,
                          synergies=syn, pairs=pairs, sequences=sequence_ids(table, rows))  # fmt: skip
        return {"synergy_r": sc.mean_synergy_r,
                "synergy_r_sequence": float(np.nanmean(sc.synergy_r_sequence)),
                "pair_r": sc.mean_pair_r, "null_error": sc.null_error,
                "per_au": dict(zip(template.aus, sc.synergy_r.tolist(), strict=True))}  # fmt: skip

    # the inversion's smoothness: the best of the grid on a few training sequences
    tune = ex.sample_sequences(ex.split(fold).train, cfg.forces.tune_sequences)
    lam = max((float(v) for v in cfg.inversion.smoothness_grid),
              key=lambda v: scores(ex.drive(tune, v) @ syn, tune)["synergy_r"])  # fmt: skip
    out = {}
    lam3d = float(cfg.loss.reconstruction)
    default = ex.spec(lam3d, solver=cfg.model.solver)
    # the configured 3D physics model, the paper's (eq. 5 + 3-vector forces + Euler + regressed
    # mass) and the galerkin model whose force regressor is fed the physics inversion
    variants = {
        "configured": default,
        "paper": PhysicsSpec(("force", "position"), reconstruction=lam3d, force_mode="vectors",
                             dynamics="paper", solver=cfg.forces.paper_solver,
                             mass_source="network"),
        "inversion-fed": dataclasses.replace(default, force_mode="activations",
                                             dynamics="galerkin", solver="exact",
                                             force_source="both"),
    }  # fmt: skip
    seen = []
    for name, spec in variants.items():
        if spec in seen:
            continue  # the configured model is one of the others
        seen.append(spec)
        key = (fold, "3D physics")
        if name == "configured" and key in ex.states:
            st = ex.states[key]
        else:
            st = ex.fit_physics(("forces", f"fold{fold}", name), spec, fold)
        pred = ex.predict(st, ex.split(fold).test)
        rows = pred["rows"]
        if not out:  # the baselines on the same frames
            inten = true_values(ex.root, table, rows, "intensity")
            out["oracle: A^T x true intensities"] = scores(inten @ syn, rows)
            out["trivial: A^T x engine coefficients"] = scores(np.nan_to_num(table.c[rows]) @ syn,
                                                               rows)  # fmt: skip
            out[f"physics inversion (lambda {lam:g})"] = scores(ex.drive(rows, lam) @ syn, rows)
            if cfg.forces.get("calibration") is not None:
                name, est = _calibrated_inversion(ex, fold, tune, rows, scores)
                out[name] = est
        label = (f"{spec.dynamics} network ({spec.force_mode}, {spec.solver}, "
                 f"{spec.mass_source} mass, forces: {spec.force_source})")  # fmt: skip
        out[label] = scores(_network_activations(ex, pred["forces"]), rows)
    ex.run.log("forces: " + ", ".join(f"{k} r = {v['synergy_r']:.3f}" for k, v in out.items()))
    return out
