"""The experiment of seed 000: ``train_and_evaluate(config, workdir)`` (DESIGN §7.2).

Table 1 of the paper — top-down, bottom-up and integration, per-AU F1 and average over the
three subject-independent folds — under two protocols:

* ``apex``: the apex (peak-intensity) frame of every AU episode of the test subjects (the paper
  scores 732 apex frames of BP4D); the top-down thresholds are chosen on the training subjects'
  apex frames;
* ``all``: every frame of the test subjects; thresholds chosen on every training frame.

Per fold: the top-down levels ``a*`` are the blendshape coefficients the top-down engine
reconstructs from each frame's landmarks (:func:`aujax.methods.topdown.reconstruct_coefficients`,
eqs. 2-4; cached and shared with the physics experiment); the bottom-up CNN (eq. 5) trains on
the training subjects' crops; the integration network (eq. 6) trains on the training subjects'
``[p^bu || a*]``. The bottom-up and integration models are trained once per fold and scored
under both protocols.

A run's workdir::

    config.json                       the resolved config (``experiment = "bp4d_topdown"``)
    runs/fold<f>/bottomup/            checkpoints/, metrics.jsonl
    runs/fold<f>/integration/         checkpoints/, metrics.jsonl
    runs/fold<f>/thresholds_<p>.json  the top-down thresholds and the subjects/folds they saw
    results/tables.md, table1_<p>.csv, results.json
    figures/table1_per_au.png
"""

import functools
import json
import pathlib

import numpy as np

from ...datasets import BP4D_AUS, DISFA_DETECTION_AUS, NOT_CODED, FrameTable, cache_root
from ...face import AU_IDS
from ...synth import TEMPLATE_TAG
from ...train import (
    LevelThresholds,
    Report,
    Run,
    SubjectFolds,
    au_header,
    choose_thresholds,
    data_mesh,
    fold_f1_lines,
    table_f1,
)
from ._apex import apex_rows, synthetic_intensities
from ._coefficients import prepared_table
from ._engine import ENGINE_VERSION
from ._train import predict_bottomup, predict_integration, train_bottomup, train_integration


__all__ = [
    "EXPERIMENT",
    "PROTOCOLS",
    "ROWS",
    "load_frames",
    "top_down_levels",
    "train_and_evaluate",
]

EXPERIMENT = "bp4d_topdown"
ROWS = ("Top-down", "Bottom-up", "Integration")
PROTOCOLS = ("apex", "all")
_DATASET_AUS = {"bp4d": BP4D_AUS, "disfa": DISFA_DETECTION_AUS}


def top_down_levels(table: FrameTable) -> np.ndarray:
    """(N, R) top-down AU levels a* (eq. 2) of the table's label AUs, from its coefficients c."""
    if table.c is None:
        raise ValueError("table: no coefficients c (run reconstruct_coefficients first).")
    if table.c.shape[1] != len(AU_IDS):
        raise ValueError(
            f"table.c must have the {len(AU_IDS)} AU_IDS columns, got {table.c.shape}."
        )
    cols = [AU_IDS.index(a) for a in table.aus]
    return np.where(table.c_mask[:, None], table.c[:, cols], 0.0).astype(np.float64)


def load_frames(cfg, log=print) -> tuple[FrameTable, pathlib.Path, bool]:
    """The configured dataset (``cfg.data.dataset``) as a table with top-down coefficients.

    The dataset (generated once when synthetic), its TFDS files and its coefficients are cached
    under the cache directory with the keys of the physics experiment
    (:func:`aujax.methods.topdown.prepared_table`), so either experiment reuses what the other
    prepared.

    Returns:
        ``(table, root, synthetic)``.
    """
    kind = cfg.data.dataset
    if kind not in _DATASET_AUS:
        raise ValueError(f"data.dataset must be 'bp4d' or 'disfa', got {kind!r}.")
    return prepared_table(kind, cfg.data, seed=cfg.seed, cache=cache_root(cfg.data.cache_dir),
                          log=log, aus=_DATASET_AUS[kind])  # fmt: skip


def _thresholds_json(th: LevelThresholds) -> dict:
    return {
        "aus": list(th.aus),
        "thresholds": [float(t) for t in th.thresholds],
        "train_f1": [float(f) for f in th.train_f1],
        "subjects": list(th.subjects),
        "folds": list(th.folds),
        "n_rows": th.n_rows,
    }


def train_and_evaluate(
    config,
    workdir,
    *,
    train: bool = True,
    step="latest",
    table: FrameTable | None = None,
    intensity: np.ndarray | None = None,
    echo=print,
) -> dict:
    """Runs (or, with ``train=False``, restores and re-evaluates) the seed 000 experiment.

    Args:
        config: the ``get_config()`` ConfigDict (experiments/configs/bp4d_topdown.py).
        workdir: the run directory; a rerun with the same config resumes where it stopped.
        train: False restores every model from its checkpoints instead of training
            (``python -m experiments.evaluate``); a model without checkpoints is an error.
        step: the checkpoint to evaluate when ``train`` is False: ``"latest"`` or an int.
        table: optional frames with top-down coefficients to use instead of the configured
            dataset (notebooks, tests); its subjects must belong to ``cfg.data.dataset``'s folds.
        intensity: optional (N, R) intensities of ``table``'s rows for the apex frames (None with
            a given ``table``: middle frames of the episodes).
        echo: where progress lines and tables are printed (None: silent).

    Returns:
        dict with ``table1`` (protocol -> method -> per-AU F1, avg, per-fold avg), ``apex``
        (per-fold apex frame and episode counts) and ``thresholds`` (fold -> protocol -> the
        thresholds and the subjects/folds their search touched).
    """
    cfg = config
    _check_config(cfg)
    run = Run(cfg, workdir, experiment=EXPERIMENT, train=train, step=step, echo=echo,
              provenance={"synthetic_generator": TEMPLATE_TAG, "engine": ENGINE_VERSION})  # fmt: skip
    ex = _Experiment(cfg, run, table, intensity)
    results: dict = {"table1": {}, "apex": {}, "thresholds": {}}
    per_fold = {p: {r: [] for r in ROWS} for p in cfg.protocols}
    for fold in cfg.folds:
        evaluate_fold(ex, fold, per_fold, results)
    report = Report()
    results["table1"] = table1(ex, per_fold, results["apex"], report)
    if train and cfg.figures:
        figure(run.workdir, results, ex.table.aus, run.log)
    run.finish(report, results)
    return results


def _check_config(cfg) -> None:
    if cfg.get("experiment", None) != EXPERIMENT:
        raise ValueError(
            f"config.experiment must be {EXPERIMENT!r}, got {cfg.get('experiment')!r}."
        )
    for p in cfg.protocols:
        if p not in PROTOCOLS:
            raise ValueError(f"config.protocols: unknown protocol {p!r} (expected {PROTOCOLS}).")


class _Experiment:
    """What the steps of one run share: the run, the frames with their top-down levels and
    labels, the apex intensities, the folds."""

    def __init__(self, cfg, run: Run, table: FrameTable | None, intensity: np.ndarray | None):
        dataset = cfg.data.dataset
        if table is None:
            table, root, synthetic = load_frames(cfg, run.log)
            if synthetic:
                intensity = synthetic_intensities(root, table, dataset=dataset)
            self.src = f"synthetic {dataset.upper()}-like" if synthetic else dataset.upper()
        else:
            self.src = f"given {dataset.upper()} table"
        if table.images is None:
            raise ValueError("table: the bottom-up model needs crops (data.image_size 64 or 128).")
        self.cfg, self.run, self.table, self.intensity = cfg, run, table, intensity
        self.levels = top_down_levels(table)
        self.labels = np.where(table.label_mask, table.labels, NOT_CODED)
        self.split = SubjectFolds(table, dataset, where=f"the {self.src} data")
        self.mesh = data_mesh()


# ------------------------------------------------------------------------------------------------
# the steps


def evaluate_fold(ex: _Experiment, fold: int, per_fold: dict, results: dict) -> None:
    """One fold: its two models, apex frames, and per protocol the top-down thresholds (chosen on
    the training subjects) and the three methods' F1 on the test frames."""
    cfg, table = ex.cfg, ex.table
    s = ex.split(fold)
    tr, te = s.train, s.test
    prob, integ = _fold_models(ex, fold, tr, te)
    apex_tr, _ = apex_rows(table, tr, intensity=ex.intensity)
    apex_te, n_episodes = apex_rows(table, te, intensity=ex.intensity)
    results["apex"][f"fold{fold}"] = {"test_frames": int(apex_te.size),
                                      "test_episodes": n_episodes,
                                      "train_frames": int(apex_tr.size)}  # fmt: skip
    results["thresholds"][f"fold{fold}"] = {}
    for protocol in cfg.protocols:
        fit_rows, test_rows = (apex_tr, apex_te) if protocol == "apex" else (tr, te)
        if fit_rows.size == 0 or test_rows.size == 0:
            raise ValueError(f"fold {fold}: no {protocol} frames among the training or test rows.")
        th = choose_thresholds(ex.levels[fit_rows], ex.labels[fit_rows],
                               subjects=table.subject[fit_rows], aus=table.aus,
                               dataset=cfg.data.dataset)  # fmt: skip
        if set(th.subjects) & set(s.test_subjects) or fold in th.folds:
            raise AssertionError(f"fold {fold}: thresholds touched test subjects.")
        record = _thresholds_json(th)
        results["thresholds"][f"fold{fold}"][protocol] = record
        if ex.run.train:
            path = ex.run.model_dir(f"fold{fold}") / f"thresholds_{protocol}.json"
            path.write_text(json.dumps(record, indent=2))
        scores = {
            "Top-down": th.detect(ex.levels[test_rows]),
            "Bottom-up": prob[test_rows],
            "Integration": integ[test_rows],
        }
        for row in ROWS:
            per_fold[protocol][row].append(table_f1(scores[row], table, test_rows))
    ex.run.log(f"fold {fold} (apex test frames {apex_te.size}): " + "; ".join(
        f"{p}: " + ", ".join(f"{r} {100 * np.mean(per_fold[p][r][-1]):.1f}" for r in ROWS)
        for p in cfg.protocols))  # fmt: skip


def _fold_models(ex: _Experiment, fold: int, tr, te) -> tuple[np.ndarray, np.ndarray]:
    """The fold's bottom-up CNN and integration network, trained (or restored) on ``tr``.

    Returns:
        (N, R) bottom-up probabilities (rows ``tr`` and ``te``) and integrated ones (rows ``te``).
    """
    cfg, table = ex.cfg, ex.table
    st = ex.run.fit((f"fold{fold}", "bottomup"), functools.partial(
        train_bottomup, cfg=cfg, table=table, rows=tr, mesh=ex.mesh, seed=cfg.seed))  # fmt: skip
    everything = np.concatenate([tr, te])
    prob = np.zeros(ex.labels.shape)
    prob[everything] = predict_bottomup(st, table=table, rows=everything)
    st = ex.run.fit((f"fold{fold}", "integration"), functools.partial(
        train_integration, cfg=cfg, table=table, rows=tr, prob=prob, levels=ex.levels,
        mesh=ex.mesh, seed=cfg.seed))  # fmt: skip
    integ = np.zeros(ex.labels.shape)
    integ[te] = predict_integration(st, prob=prob[te], levels=ex.levels[te])
    return prob, integ


def table1(ex: _Experiment, per_fold: dict, apex: dict, report: Report) -> dict:
    """Table 1 per protocol: the three methods' per-AU F1, mean of the folds."""
    cfg, aus = ex.cfg, ex.table.aus
    record = {}
    for protocol in cfg.protocols:
        lines, record[protocol] = fold_f1_lines(per_fold[protocol], aus)
        n_apex = sum(apex[f"fold{f}"]["test_frames"] for f in cfg.folds)
        what = (f"apex frames ({n_apex} test frames over the folds)" if protocol == "apex"
                else "all frames")  # fmt: skip
        report.table(
            f"table1_{protocol}",
            f"Table 1 ({protocol}) — F1 (%) on {ex.src}, {what}, mean of folds {list(cfg.folds)}",
            au_header(aus), lines,
            note="Top-down: levels >= per-AU thresholds chosen on the training subjects' "
            f"{'apex ' if protocol == 'apex' else ''}frames; bottom-up and integration: "
            "probability >= 0.5. Frame-based F1, 9s skipped, per fold then averaged.",
        )  # fmt: skip
    return record


def figure(workdir: pathlib.Path, results: dict, aus, log) -> None:
    """Per-AU F1 bars of the three methods, one panel per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = list(results["table1"])
    fig, axes = plt.subplots(len(protocols), 1, figsize=(10, 2.8 * len(protocols)), sharex=True)
    axes = np.atleast_1d(axes)
    x = np.arange(len(aus) + 1)
    width = 0.8 / len(ROWS)
    for ax, protocol in zip(axes, protocols, strict=True):
        for i, row in enumerate(ROWS):
            r = results["table1"][protocol][row]
            vals = [100 * r["per_au"][a] for a in aus] + [100 * r["avg"]]
            ax.bar(x + (i - 1) * width, vals, width, label=row)
        ax.set_ylabel(f"F1 (%), {protocol}")
        ax.set_ylim(0, 100)
        ax.legend(loc="upper right", fontsize=8, ncol=3)
    axes[-1].set_xticks(x, [f"AU{a}" for a in aus] + ["Avg"])
    fig.suptitle("Table 1 per AU: top-down vs bottom-up vs integration")
    fig.tight_layout()
    figs = workdir / "figures"
    figs.mkdir(exist_ok=True)
    fig.savefig(figs / "table1_per_au.png", dpi=110)
    plt.close(fig)
    log(f"figure: {figs / 'table1_per_au.png'}")
