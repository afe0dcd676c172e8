"""The main job of seed 001: ``train_and_evaluate(config, workdir)`` (DESIGN §7.1, §8).

Importable from a notebook; ``python -m experiments.bp4d_physics`` is a thin launcher around it
and ``python -m experiments.evaluate`` calls it with ``train=False`` to restore every model of a
run and reprint its tables.

A run's workdir::

    config.json                 the resolved config (a rerun must use the same one)
    runs/<fold>/<model>/        one model: checkpoints/, metrics.jsonl
    results/table1.{md,csv}     and table4, table5, forces
    figures/figure4.png         force magnitude vs AU labels; figure5.png forces on the mesh

Everything derived from the data (the dataset when synthetic, its TFDS files, the reconstructed
coefficients) is cached under the cache directory and shared between runs.
"""

import json
import pathlib
import time

import jax
import numpy as np

from ...datasets import BP4D_AUS, DISFA_DETECTION_AUS, FrameTable, cache_root, folds
from ...train import RunLog, check_run_config, csv_table, data_mesh, markdown_table, table_f1
from ..topdown import prepared_table
from ._template import build_physics_template
from ._train import PhysicsSpec, predict_image, predict_physics, train_image, train_physics


__all__ = ["ROWS", "row_spec", "train_and_evaluate"]

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


def _slug(name: str) -> str:
    return name.lower().replace(" + ", "_plus_").replace(" ", "_").replace("%", "pct")


def train_and_evaluate(config, workdir, *, train: bool = True, step="latest", echo=print) -> dict:
    """Runs (or, with ``train=False``, restores and re-evaluates) the whole experiment.

    Args:
        config: the ``get_config()`` ConfigDict (experiments/configs/bp4d_physics.py).
        workdir: the run directory; a rerun with the same config resumes where it stopped.
        train: False restores every model from its checkpoints instead of training
            (``python -m experiments.evaluate``); a model without checkpoints is an error.
        step: the checkpoint to evaluate when ``train`` is False: ``"latest"``, ``"best"``
            (highest validation F1; needs ``train.validation_subjects`` > 0) or an int.
        echo: where progress lines and tables are printed (None: silent).

    Returns:
        dict of the tables (``table1``, ``table4``, ``table5``, ``forces``) as nested dicts.
    """
    cfg = config
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    check_run_config(cfg, workdir, train=train, experiment="bp4d_physics")
    log = RunLog(workdir, echo)
    t_start = time.perf_counter()
    cache = cache_root(cfg.data.cache_dir)
    mesh = data_mesh()
    log(f"bp4d_physics: workdir {workdir}, {jax.device_count()} {jax.default_backend()} device(s).")
    template, blendshapes = build_physics_template(
        n_vertices=cfg.data.template_vertices, factors=tuple(cfg.model.factors), seed=cfg.seed
    )
    table, root, synthetic = prepared_table(
        "bp4d", cfg.data, seed=cfg.seed, cache=cache, log=log, blendshapes=blendshapes
    )
    aus = table.aus
    fold_subjects = folds("bp4d")
    present = set(table.subject.tolist())

    def run_dir(*names):
        return workdir / "runs" / "/".join(_slug(n) for n in names)

    def split(fold):
        """Training, validation and test rows of a fold (validation: held-out training subjects)."""
        tr_subj, te_subj = fold_subjects[fold - 1]
        tr_subj = sorted(s for s in tr_subj if s in present)
        n_val = int(cfg.train.validation_subjects)
        if n_val and len(tr_subj) > n_val:
            rng = np.random.default_rng([cfg.seed, fold])
            val_subj = sorted(rng.choice(tr_subj, n_val, replace=False).tolist())
        else:
            val_subj = []
        fit_subj = [s for s in tr_subj if s not in val_subj]
        tr, val, te = table.rows(fit_subj), table.rows(val_subj), table.rows(te_subj)
        if tr.size == 0 or te.size == 0:
            raise ValueError(f"fold {fold}: no training or test frames in {root}.")
        return tr, val, te

    def fit_physics(name_parts, spec, fold, z2d):
        tr, val, _ = split(fold)
        d = run_dir(*name_parts)
        if not train and not (d / "checkpoints").exists():
            raise ValueError(f"{d}: no checkpoints to evaluate (was the run finished?).")
        t0 = time.perf_counter()
        st = train_physics(d, cfg=cfg, table=table, rows=tr, template=template,
                           spec=spec, z2d=z2d, mesh=mesh, seed=cfg.seed, val_rows=val,
                           progress="/".join(name_parts), restore=None if train else step)  # fmt: skip
        log(f"  {'/'.join(name_parts)}: {'trained' if train else 'restored'} in "
            f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
        return st

    def fit_image(fold):
        tr, val, _ = split(fold)
        d = run_dir(f"fold{fold}", "image")
        if not train and not (d / "checkpoints").exists():
            raise ValueError(f"{d}: no checkpoints to evaluate (was the run finished?).")
        t0 = time.perf_counter()
        st = train_image(d, cfg=cfg, table=table, rows=tr, mesh=mesh, seed=cfg.seed,
                         val_rows=val, progress=f"fold{fold}/image",
                         restore=None if train else step)  # fmt: skip
        log(f"  fold{fold}/image: {'trained' if train else 'restored'} in "
            f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
        return st

    results: dict = {"table1": {}, "table4": {}, "table5": {}, "forces": {}}
    per_fold: dict = {r: [] for r in cfg.rows}
    states: dict = {}
    for fold in cfg.folds:
        _, _, te = split(fold)
        z2d = None
        if {"2D image", "physics + image"} & set(cfg.rows):
            st = fit_image(fold)
            t0 = time.perf_counter()
            img = predict_image(st, table=table, rows=np.arange(len(table)))
            log(f"  fold{fold}/image: features of {len(table)} frames in "
                f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
            z2d = img["z2d"].astype(np.float32)
            if "2D image" in cfg.rows:
                covered = _covered(table, te, cfg.model.window)
                per_fold["2D image"].append(table_f1(img["prob"][covered], table, covered))
        for row in cfg.rows:
            if row == "2D image":
                continue
            st = fit_physics((f"fold{fold}", row), row_spec(row, cfg), fold, z2d)
            states[(fold, row)] = st
            pred = predict_physics(st, cfg=cfg, table=table, rows=te, z2d=z2d)
            per_fold[row].append(table_f1(pred["prob"], table, pred["rows"]))
        log(f"fold {fold}: " + ", ".join(
            f"{r} {100 * np.mean(per_fold[r][-1]):.1f}" for r in cfg.rows))  # fmt: skip
    header = ["Method"] + [f"AU{a}" for a in aus] + ["Avg"]
    lines = []
    for row in cfg.rows:
        f1 = np.mean(np.stack(per_fold[row]), axis=0)
        lines.append((row, [*f1.tolist(), float(np.mean(f1))]))
        results["table1"][row] = {
            "per_au": dict(zip(aus, f1.tolist(), strict=True)),
            "avg": float(np.mean(f1)),
            "per_fold_avg": [float(np.mean(x)) for x in per_fold[row]],
        }
    src = "synthetic BP4D-like" if synthetic else "BP4D"
    md = [markdown_table(
        f"Table 1 — F1 (%) on {src}, mean of folds {list(cfg.folds)}", header, lines,
        note="Frame-based F1 (threshold 0.5, 9s skipped), per fold then averaged over folds.",
    )]  # fmt: skip
    csv = {"table1": csv_table(header, lines)}

    if cfg.table4.enabled:
        t4_lines = []
        for frac in cfg.table4.fractions:
            vals = []
            for variant, lam in (
                ("AU", 0.0),
                ("AU + reconstruction", float(cfg.loss.reconstruction)),
            ):
                scores = []
                for fold in cfg.table4.folds:
                    _, _, te = split(fold)
                    spec = PhysicsSpec(("force", "position"), reconstruction=lam,
                                       force_mode=cfg.model.force_mode,
                                       dynamics=cfg.model.dynamics, label_fraction=float(frac))  # fmt: skip
                    st = fit_physics(
                        ("table4", f"fold{fold}", f"{variant} {frac:g}"), spec, fold, None
                    )
                    pred = predict_physics(st, cfg=cfg, table=table, rows=te)
                    scores.append(float(np.mean(table_f1(pred["prob"], table, pred["rows"]))))
                vals.append(float(np.mean(scores)))
                results["table4"].setdefault(f"{100 * frac:g}%", {})[variant] = vals[-1]
            t4_lines.append((f"{100 * frac:g}%", vals))
        md.append(markdown_table(
            f"Table 4 — average F1 (%) with a fraction of the AU labels (folds {list(cfg.table4.folds)})",
            ["AU labels", "AU", "AU + Reconstruction"], t4_lines,
            note="3D physics model; the reconstruction loss uses every frame.",
        ))  # fmt: skip
        csv["table4"] = csv_table(["labels", "au", "au_reconstruction"], t4_lines)

    if cfg.table5.enabled:
        fold = cfg.table5.fold
        disfa, _, _ = prepared_table("disfa", cfg.data, seed=cfg.seed, cache=cache, log=log,
                                     aus=BP4D_AUS, blendshapes=blendshapes)  # fmt: skip
        shared = [a for a in aus if a in DISFA_DETECTION_AUS]
        cols = [aus.index(a) for a in shared]
        vals = []
        for variant, lam in (
            ("data-driven", 0.0),
            ("physics-based", float(cfg.loss.reconstruction)),
        ):
            spec = PhysicsSpec(("force", "position"), reconstruction=lam,
                               force_mode=cfg.model.force_mode, dynamics=cfg.model.dynamics)  # fmt: skip
            if variant == "physics-based" and (fold, "3D physics") in states:
                st = states[(fold, "3D physics")]
            else:
                st = fit_physics(("table5", f"fold{fold}", variant), spec, fold, None)
            pred = predict_physics(st, cfg=cfg, table=disfa, rows=np.arange(len(disfa)))
            f1 = table_f1(pred["prob"][:, cols], _subset(disfa, cols), pred["rows"])
            vals.append(float(np.mean(f1)))
            results["table5"][variant] = {
                "avg": vals[-1],
                "per_au": dict(zip(shared, f1.tolist(), strict=True)),
            }
        md.append(markdown_table(
            f"Table 5 — train BP4D-like (fold {fold} training subjects), test DISFA-like, "
            f"F1 (%) on the shared AUs {shared}",
            ["Method", "data-driven", "physics-based"], [("Avg.", vals)],
        ))  # fmt: skip
        csv["table5"] = csv_table(["metric", "data_driven", "physics_based"], [("avg", vals)])

    if cfg.forces.enabled and synthetic:
        results["forces"] = _force_correlation(cfg, table, root, split, fit_physics, states, log)
        lines_f = [(k, [v]) for k, v in results["forces"].items()]
        md.append(
            "### Estimated vs true muscle forces (synthetic ground truth)\n\n"
            "| dynamics | mean Pearson r |\n|---|---|\n"
            + "".join(f"| {k} | {v:.3f} |\n" for k, v in results["forces"].items())
            + "\nPer muscle, over the test frames of the fold: |F_m(t)| (paper, 3-vector forces) or "
            "a_m(t) (galerkin, directed activations) against the generator's activation of muscle m; "
            "mean over muscles that were active.\n"
        )
        csv["forces"] = csv_table(["dynamics", "r"], lines_f)

    if cfg.figures and cfg.rows and train:
        _figures(workdir, cfg, table, template, states, log)

    (workdir / "results").mkdir(exist_ok=True)
    text = "\n".join(md)
    if train:
        (workdir / "results" / "tables.md").write_text(text)
        for name, body in csv.items():
            (workdir / "results" / f"{name}.csv").write_text(body)
        (workdir / "results" / "results.json").write_text(
            json.dumps(results, indent=2, default=str)
        )
    log("")
    log(text)
    log(f"bp4d_physics: done in {time.perf_counter() - t_start:.0f} s.")
    return results


def _subset(table: FrameTable, cols) -> FrameTable:
    import dataclasses

    return dataclasses.replace(table, labels=table.labels[:, cols], label_mask=table.label_mask[:, cols],
                               aus=tuple(table.aus[c] for c in cols))  # fmt: skip


def _covered(table: FrameTable, rows, window: int) -> np.ndarray:
    """The frames the window-based rows are evaluated on (so every row scores the same frames)."""
    from ._train import covering_windows

    wins, owner = covering_windows(table, rows, window)
    return np.sort(wins[owner])


def _true_activations(root: pathlib.Path, table: FrameTable, rows: np.ndarray) -> np.ndarray:
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


def _force_correlation(cfg, table, root, split, fit_physics, states, log) -> dict:
    """Correlation of estimated with true muscle forces, ``paper`` vs ``galerkin`` dynamics."""
    fold = cfg.forces.fold
    _, _, te = split(fold)
    out = {}
    for dynamics, mode, solver in (
        ("paper", "vectors", cfg.model.solver),
        ("galerkin", "activations", cfg.forces.galerkin_solver),
    ):
        spec = PhysicsSpec(("force", "position"), reconstruction=float(cfg.loss.reconstruction),
                           force_mode=mode, dynamics=dynamics, solver=solver)  # fmt: skip
        key = (fold, "3D physics")
        same = (cfg.model.dynamics, cfg.model.force_mode, cfg.model.solver) == (
            dynamics,
            mode,
            solver,
        )
        if key in states and same:
            st = states[key]
        else:
            st = fit_physics(("forces", f"fold{fold}", dynamics), spec, fold, None)
        pred = predict_physics(st, cfg=cfg, table=table, rows=te)
        f = pred["forces"]
        est = np.linalg.norm(f, axis=-1) if f.ndim == 3 else f
        true = _true_activations(root, table, pred["rows"])
        out[f"{dynamics} ({mode})"] = _pearson_mean(est, true)
    log("force correlation: " + ", ".join(f"{k} r = {v:.3f}" for k, v in out.items()))
    return out


def _figures(workdir, cfg, table, template, states, log) -> None:
    """Figure 4 (force magnitude vs AU labels) and figure 5 (forces on the mesh), seed 001 §4.4."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in states if k[1] == "3D physics"]
    if not keys:
        return  # figures are drawn from a 3D physics model
    fold, row = keys[0]
    st = states[(fold, row)]
    _, te_subj = folds("bp4d")[fold - 1]
    seqs = [
        (s, t, r) for s, t, r in table.sequences() if s in te_subj and r.size >= cfg.model.window
    ]
    au_col = {a: i for i, a in enumerate(table.aus)}
    j12 = au_col.get(12, 0)
    s, t, rows = max(seqs, key=lambda x: int(np.sum(table.labels[x[2], j12] == 1)))
    pred = predict_physics(st, cfg=cfg, table=table, rows=rows)
    f = pred["forces"]
    mag = np.linalg.norm(f, axis=-1) if f.ndim == 3 else f  # (n, M)
    w = np.asarray(template.au_muscle_weights)
    k_of = {a: i for i, a in enumerate(template.aus)}
    figs = workdir / "figures"
    figs.mkdir(exist_ok=True)
    panels = [a for a in (1, 12, 4) if a in au_col and a in k_of]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.4 * len(panels)), sharex=True)
    axes = np.atleast_1d(axes)
    frames = table.frame[pred["rows"]]
    for ax, au in zip(axes, panels, strict=True):
        m = int(np.argmax(w[k_of[au]]))
        y = mag[:, m] / max(np.max(mag[:, m]), 1e-12)
        ax.plot(frames, y, color="tab:blue", label=f"|force| {template.muscle_names[m]}")
        lab = table.labels[pred["rows"], au_col[au]].astype(float)
        lab[lab == 9] = np.nan
        ax.plot(frames, lab, color="tab:red", label=f"AU{au} label")
        ax.set_ylim(-0.05, 1.1)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel(f"frame ({s} {t}, fold {fold} test)")
    fig.suptitle("Figure 4: estimated force magnitude (normalised) vs AU labels")
    fig.tight_layout()
    fig.savefig(figs / "figure4.png", dpi=110)
    plt.close(fig)

    m12 = int(np.argmax(w[k_of[12]])) if 12 in k_of else 0
    i = int(np.argmax(mag[:, m12]))
    vf = np.linalg.norm(template.vertex_forces(f[i]), axis=1)
    v = np.asarray(template.neutral)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(8, 4))
    if table.images is not None:
        a0.imshow(table.images[pred["rows"][i]])
    a0.set_title(f"{s} {t} frame {int(frames[i])}")
    a0.axis("off")
    a1.tripcolor(
        v[:, 0], v[:, 1], np.asarray(template.triangles), vf, shading="gouraud", cmap="magma"
    )
    a1.set_aspect("equal")
    a1.axis("off")
    a1.set_title("Figure 5: |force| on the template mesh")
    fig.tight_layout()
    fig.savefig(figs / "figure5.png", dpi=110)
    plt.close(fig)
    log(f"figures: {figs / 'figure4.png'}, {figs / 'figure5.png'}")
