"""The experiment's last two stages: fig. 5's augmentation study and figs. 6-8 with the vertex
error against the physics (``python -m experiments.disfa_synthesis``).

* :func:`augmentation_stage` — section 4.3's "Evaluation of data augmentation": label vectors
  drawn from other training subjects (:func:`augmentation_labels`), turned into expression
  parameters by the config's generator (CAAE* by default, the paper's choice) from a neutral
  frame of the target subject, rendered with that subject's identity, albedo and a head pose of
  its own frames (:func:`render_parameters`), then :func:`augmentation_study` on the training
  subjects' non-neutral real crops plus 0 / 10 / 20 / 45 / 90 % of those renders, scored on every
  valid frame of the test subjects (MAE, MSE, ICC); fig. 5 as a PNG.
* :func:`figures_stage` — section 4.4's colour maps (figs. 6-8) from the figure generator on the
  first test subject, and, beyond the paper (synthetic data only), the vertex error of each
  generator's meshes against the physics' own static equilibrium for the same subject and labels
  (:func:`physics_meshes`, :func:`vertex_error_table`), with the 3DMM's floor (the physics'
  motion projected on the expression basis, :func:`projected_meshes`).

Displacements: a generator's motion is measured from its own output at all-zero labels (for the
CAAE from the same neutral source frame), the physics' from the subject's rest mesh; the figures
draw the paper's deformation "between the input neutral faces and the corresponding synthesized
faces" (the CAAE's input neutral frame; for a CGAN its all-zero output).
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np

from ._augment import (
    RegressorConfig,
    augmentation_labels,
    augmentation_study,
    format_augmentation,
    plot_augmentation,
)
from ._experiment import GENERATORS, Stages, generator_fn, neutral_rows
from ._figures import (
    FIG6_AUS,
    FIG6_INTENSITIES,
    FIG7_AUS,
    FIG8_COMBINATIONS,
    label_grid,
    plot_au_maps,
    plot_combination_maps,
    plot_intensity_maps,
)
from ._render import expression_meshes, head_rotations, render_parameters
from ._truth import error_label_rows, physics_meshes, projected_meshes, vertex_error_table


__all__ = ["FLOOR_ROW", "augmentation_stage", "figures_stage"]

#: the vertex-error table's extra row: the physics' motion projected on the expression basis
FLOOR_ROW = "3DMM floor (projection)"


def _generate(st: Stages, name: str, subject: str, labels, source_rows, *, key) -> np.ndarray:
    """(n, n_exp) parameters of generator ``name`` for ``labels`` on ``subject``."""
    src = st.params.x_exp[source_rows] if GENERATORS[name][0] == "caae" else None
    return generator_fn(st.states[name], labels, bounds=st.bounds, source=src, key=key)


def _check_generator(cfg_name: str, name: str, st: Stages) -> None:
    if name not in st.states:
        raise ValueError(
            f"config.{cfg_name}: {name!r} is not one of the trained generators {list(st.states)}."
        )


# ------------------------------------------------------------------------------- fig. 5


def _plain(x):
    """JSON-ready: arrays and NumPy scalars to lists and floats, recursively."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (np.ndarray, np.generic, jax.Array)):
        return np.asarray(x).tolist()
    return x


def augmentation_stage(st: Stages, run, report) -> dict:
    """Fig. 5: the image AU-intensity regressor trained with 0-90 % synthetic renders added.

    Args:
        st: the experiment's :class:`Stages`.
        run: the :class:`aujax.train.Run` (workdir, train or restore, log).
        report: the :class:`aujax.train.Report` the table goes into (section ``fig5``).

    Returns:
        ``{"results": {fraction: metrics}, "n_real", "n_synthetic", "n_test", "generator"}``.
    """
    cfg, d, p = st.cfg, st.data, st.params
    a = cfg.augment
    _check_generator("augment.generator", a.generator, st)
    fractions = tuple(float(f) for f in a.fractions)
    train = np.isin(d.subject, st.train_subjects) & p.valid & np.any(d.labels > 0, axis=1)
    real_rows = np.flatnonzero(train)
    test_rows = np.flatnonzero(np.isin(d.subject, st.test_subjects) & p.valid)
    n_synth = round(max(fractions) * real_rows.size)
    key = jax.random.key(int(cfg.seed) + 5)
    k_labels, k_source, k_gen, k_train = jax.random.split(key, 4)
    labels, targets = augmentation_labels(d.labels[real_rows], d.subject[real_rows], n=n_synth,
                                          key=k_labels)  # fmt: skip
    size = int(d.images.shape[1])
    synth = np.zeros((n_synth, size, size, d.images.shape[-1]), np.uint8)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(k_source)).astype(np.uint32))
    subjects = list(dict.fromkeys(targets.tolist()))
    for i, s in enumerate(subjects):
        m = targets == s
        src = rng.choice(neutral_rows(st.data, st.params, s), size=int(m.sum()), replace=True)
        x = _generate(st, a.generator, s, labels[m], src, key=jax.random.fold_in(k_gen, i))
        synth[m] = render_parameters(
            d.model, x_id=p.x_id[s], x_exp=x, albedo=d.albedo[s], image_size=size,
            rotations=head_rotations(p.rotation[src]),
            light_elevation_deg=float(cfg.render.light_elevation_deg),
            ambient=float(cfg.render.ambient),
        )  # fmt: skip
    run.log(f"fig. 5: {n_synth} {a.generator} renders for {len(subjects)} training subjects, "
            f"{real_rows.size} real non-neutral training frames, {test_rows.size} test frames")  # fmt: skip
    r = a.regressor
    config = RegressorConfig(arch=r.arch, depth=int(r.depth), width=int(r.width), stem=r.stem,
                             lr=float(r.lr), decay=float(r.decay),
                             checkpoint_every=int(r.checkpoint_every),
                             log_every=int(r.log_every))  # fmt: skip
    results = augmentation_study(
        real_images=d.images[real_rows].astype(np.float32) / 255.0,
        real_labels=d.labels[real_rows].astype(np.float32),
        synth_images=synth.astype(np.float32) / 255.0,
        synth_labels=labels,
        test_images=d.images[test_rows].astype(np.float32) / 255.0,
        test_labels=d.labels[test_rows].astype(np.float32),
        fractions=fractions, key=k_train, steps=int(a.steps), batch_size=int(a.batch_size),
        config=config, workdir=run.workdir / "augment", progress="fig. 5", log=run.log,
        restore=not run.train,
    )  # fmt: skip
    text = format_augmentation(results)
    text += (f"\nSynthetic images: {a.generator} renders of labels drawn from other training "
             f"subjects with the target subject's identity, albedo and head pose; "
             f"{real_rows.size} real non-neutral training frames; the test set: every valid "
             f"frame of the test subjects ({test_rows.size}).\n")  # fmt: skip
    csv = "fraction,n_synthetic,mae,mse,icc\n" + "".join(
        f"{f:g},{v['n_synthetic']},{v['mae']:.6f},{v['mse']:.6f},{v['icc']:.6f}\n"
        for f, v in results.items()
    )
    report.section("fig5", text, csv)
    figures = pathlib.Path(run.workdir) / "figures"
    figures.mkdir(exist_ok=True)
    plot_augmentation(figures / "fig5_augmentation.png", results)
    clean = {f"{f:g}": _plain({k: v for k, v in m.items() if k != "seconds"})
             for f, m in results.items()}  # fmt: skip
    return {"results": clean, "n_real": int(real_rows.size), "n_synthetic": int(n_synth),
            "n_test": int(test_rows.size), "generator": a.generator}  # fmt: skip


# ------------------------------------------------------------------------------- figs. 6-8


def _meshes(st: Stages, name: str, subject: str, labels, source_row: int, *, key) -> np.ndarray:
    labels = np.asarray(labels, np.float32)
    src = np.full(labels.shape[0], source_row)
    x = _generate(st, name, subject, labels, src, key=key)
    return np.asarray(expression_meshes(st.data.model, st.params.x_id[subject], x), np.float64)


def figures_stage(st: Stages, run, report) -> dict:
    """Figs. 6-8 (PNGs) and, on synthetic data, the vertex error against the physics.

    Args:
        st: the experiment's :class:`Stages`.
        run: the :class:`aujax.train.Run`.
        report: the :class:`aujax.train.Report` (section ``vertex_error``).

    Returns:
        ``{"figures": [paths], "vertex_error": {...} or None}``.
    """
    cfg, d, p = st.cfg, st.data, st.params
    f = cfg.figures
    _check_generator("figures.generator", f.generator, st)
    faces = np.asarray(d.model.triangles)
    out = pathlib.Path(run.workdir) / "figures"
    out.mkdir(exist_ok=True)
    key = jax.random.key(int(cfg.seed) + 7)
    subject = st.test_subjects[0]
    source = int(neutral_rows(st.data, st.params, subject)[0])
    zero = np.zeros((1, len(d.aus)), np.float32)
    kind = GENERATORS[f.generator][0]
    if kind == "caae":  # the paper: the input neutral face
        neutral = np.asarray(expression_meshes(d.model, p.x_id[subject], p.x_exp[[source]]))[0]
    else:
        neutral = _meshes(st, f.generator, subject, zero, source, key=key)[0]
    paths = []
    l6, _ = label_grid(FIG6_AUS, intensities=FIG6_INTENSITIES)
    m6 = _meshes(st, f.generator, subject, l6, source, key=key)
    paths.append(out / "fig6_intensities.png")
    plot_intensity_maps(paths[-1], neutral=neutral,
                        meshes=m6.reshape(len(FIG6_AUS), len(FIG6_INTENSITIES), *m6.shape[1:]),
                        faces=faces, aus=FIG6_AUS, intensities=FIG6_INTENSITIES,
                        title=f"{f.generator}, {subject}: AUs at intensities 1-5")  # fmt: skip
    l7, _ = label_grid(FIG7_AUS)
    paths.append(out / "fig7_aus.png")
    plot_au_maps(paths[-1], neutral=neutral,
                 meshes=_meshes(st, f.generator, subject, l7, source, key=key), faces=faces,
                 aus=FIG7_AUS, title=f"{f.generator}, {subject}: the 12 AUs at intensity 5")  # fmt: skip
    l8, n8 = label_grid(FIG8_COMBINATIONS)
    paths.append(out / "fig8_combinations.png")
    plot_combination_maps(paths[-1], neutral=neutral,
                          meshes=_meshes(st, f.generator, subject, l8, source, key=key),
                          faces=faces, names=n8,
                          title=f"{f.generator}, {subject}: AU combinations at intensity 5")  # fmt: skip
    run.log("figs. 6-8: " + ", ".join(str(x) for x in paths))
    if not d.synthetic:
        run.log("vertex error against the physics: skipped (a real DISFA copy has no physics)")
        return {"figures": [str(x) for x in paths], "vertex_error": None}
    return {"figures": [str(x) for x in paths], "vertex_error": _vertex_error(st, report, key)}


def _vertex_error(st: Stages, report, key) -> dict:
    cfg, d = st.cfg, st.data
    labels, names = error_label_rows(aus=FIG7_AUS, combinations=FIG8_COMBINATIONS)
    draws = int(cfg.figures.draws)
    generated = {g: [] for g in cfg.generators}
    neutrals = {g: [] for g in cfg.generators}
    truth, truth_neutral, all_names = [], [], []
    for i, s in enumerate(st.test_subjects):
        t = physics_meshes(labels, subject=s, seed=int(cfg.seed), size=cfg.data.disfa_size,
                           n_vertices=int(cfg.data.n_vertices))  # fmt: skip
        rest = physics_meshes(np.zeros((1, labels.shape[1]), np.int8), subject=s,
                              seed=int(cfg.seed), size=cfg.data.disfa_size,
                              n_vertices=int(cfg.data.n_vertices))[0]  # fmt: skip
        sources = neutral_rows(st.data, st.params, s)
        for j in range(draws):
            source = int(sources[j % sources.size])
            k = jax.random.fold_in(key, 100 * i + j)
            for g in cfg.generators:
                both = np.concatenate([np.zeros_like(labels), labels]).astype(np.float32)
                m = _meshes(st, g, s, both, source, key=k)
                generated[g].append(m[labels.shape[0] :])
                neutrals[g].append(np.broadcast_to(m[0], m[labels.shape[0] :].shape))
            truth.append(t)
            truth_neutral.append(np.broadcast_to(rest, t.shape))
            all_names.extend(names)
    truth = np.concatenate(truth)
    truth_neutral = np.concatenate(truth_neutral)
    meshes = {g: np.concatenate(v) for g, v in generated.items()}
    neutral = {g: np.concatenate(v) for g, v in neutrals.items()}
    meshes[FLOOR_ROW] = projected_meshes(truth, truth_neutral=truth_neutral,
                                         exp_basis=np.asarray(d.model.exp_basis))  # fmt: skip
    neutral[FLOOR_ROW] = truth_neutral
    title = (f"Vertex error against the physics (beyond the paper; test subjects "
             f"{list(st.test_subjects)}, {draws} neutral source frames / noise draws each)")  # fmt: skip
    table = vertex_error_table(meshes, truth, names=all_names, generated_neutral=neutral,
                               truth_neutral=truth_neutral, title=title)  # fmt: skip
    note = ("\nDisplacements: each generator's from its own output at all-zero labels (CAAE: the "
            "same neutral source frame), the physics' from the subject's rest mesh; the generated "
            "neutral is aligned onto the true one by a similarity transform first. "
            f"'{FLOOR_ROW}': the physics' motion projected on the model's expression basis, the "
            "least any generator of expression parameters can reach.\n")  # fmt: skip
    csv = "row,generator,mean_cm,relative\n" + "".join(
        f"{r},{g},{table.mean[a, b]:.6f},{table.relative[a, b]:.6f}\n"
        for a, g in enumerate(table.generators) for b, r in enumerate(table.rows)
    )  # fmt: skip
    report.section("vertex_error", table.text + note, csv)
    return {"rows": list(table.rows), "generators": list(table.generators),
            "truth_cm": table.truth.tolist(), "mean_cm": table.mean.tolist(),
            "relative": table.relative.tolist()}  # fmt: skip
