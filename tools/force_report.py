"""Muscle activity recovered from the top-down coefficients, scored against the synthetic truth:
``python -m tools.force_report [--fold 1] [--sequences 40] [--test-sequences 0]``.

On the main job's synthetic BP4D-like copy (its config: preset, seed, template, engine), for the
test subjects of one fold, with every choice (the Gaussian width, the inversion's smoothness
lambda) made on sequences of the fold's training subjects:

* **oracle**: ``A^T I`` from the true AU intensities I (what a perfect AU reading gives);
* **trivial**: ``A^T c_hat``, the engine's per-frame coefficients (no physics);
* **Gaussian-smoothed trivial**: the same, c_hat smoothed in time (sigma chosen on training);
* **RTS-smoothed trivial**: ``A^T c`` with the main job's coefficients (Kalman/RTS smoother on
  the reduced dynamics, issue 16);
* **inversion**: :func:`aujax.physics.invert_activations` (windowed non-negative deconvolution
  through the exact Galerkin propagator, synergy-parameterised) on the per-frame and on the
  smoothed coefficients;
* **calibrated**: the per-frame coefficients read through a ridge map fitted on the frames of
  every sequence of the training subjects (:func:`aujax.methods.physics.fit_coefficient_calibration`:
  their Gaussian-smoothed c_hat, at the sigma chosen above, against their AU intensities, or --
  synthetic only -- against the synergy coordinates of their true activations), then
  Gaussian-smoothed (the same sigma) and inverted (lambda chosen on training);
* **subject baseline + calibrated**: the same after person-specific normalisation
  (:class:`aujax.methods.physics.SubjectCalibration`: each subject's q-th percentile of its
  smoothed c over all its frames subtracted, no labels; q chosen on two halves of the training
  subjects by :func:`aujax.methods.physics.choose_baseline_quantile`), then inverted.

``--test-sequences 0`` scores every sequence of the test subjects (the choices still use the
``--sequences`` drawn from the training subjects).

Scores (:func:`aujax.train.force_scores`): mean Pearson r per AU synergy (pooled over frames and
the mean per sequence), per bilateral pair sum, and the null-space-invariant error
``||g (a_hat - a)|| / ||g a||``; then r per AU synergy.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

from ._common import enable_float64, print_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fold", type=int, default=1)
    ap.add_argument("--sequences", type=int, default=40,
                    help="sequences drawn (seeded) from each split; 0: all")  # fmt: skip
    ap.add_argument("--test-sequences", type=int, default=None,
                    help="sequences drawn from the test subjects (default: --sequences); 0: all")  # fmt: skip
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--grid", default="0.01,0.1,1,10,100,1000", help="smoothness lambdas tried")
    args = ap.parse_args(argv)
    enable_float64()
    from scipy.ndimage import gaussian_filter1d

    from aujax.datasets import cache_root, folds
    from aujax.face import make_face
    from aujax.methods.physics import (
        build_physics_template,
        choose_baseline_quantile,
        fit_coefficient_calibration,
        fit_subject_calibration,
        invert_table,
        sequence_ids,
        smoothed_coefficients,
        true_values,
    )
    from aujax.methods.topdown import prepared_table
    from aujax.physics import reduce_template
    from aujax.train import bilateral_pairs, force_scores, synergy_coordinates
    from experiments.configs.bp4d_physics import get_config

    t0 = time.perf_counter()
    cfg = get_config()
    raw_data = copy.deepcopy(cfg.data)
    raw_data.smoother.enabled = False
    quiet = lambda *a: None  # noqa: E731
    raw, root, synthetic = prepared_table("bp4d", raw_data, seed=cfg.seed, cache=cache_root(),
                                          log=quiet)  # fmt: skip
    if not synthetic:
        raise SystemExit("force_report needs the synthetic copy (its true activations).")
    # the main job's smoothed c: smoothed with its physics template's reduced skin
    template, blendshapes = build_physics_template(
        n_vertices=cfg.data.template_vertices, factors=tuple(cfg.model.factors), seed=cfg.seed
    )
    smooth, _, _ = prepared_table("bp4d", cfg.data, seed=cfg.seed, cache=cache_root(), log=quiet,
                                  blendshapes=blendshapes, dynamics=template.reduced)  # fmt: skip
    face = make_face(cfg.data.template_vertices, seed=cfg.seed)
    model, reduced, muscles = reduce_template(face)
    syn = np.asarray(model.au_activations)
    g = np.asarray(reduced.force_map)
    pairs = bilateral_pairs(muscles.names)
    train, test = folds("bp4d")[args.fold - 1]
    rng = np.random.default_rng(cfg.seed)
    seqs = raw.sequences()

    def draw(subjects, n):
        idx = [i for i, (s, _, _) in enumerate(seqs) if s in subjects]
        if n:
            idx = sorted(rng.permutation(idx)[:n])
        return [seqs[i] for i in idx]

    n_test = args.sequences if args.test_sequences is None else args.test_sequences
    tr, te = draw(train, args.sequences), draw(test, n_test)

    def rows_of(split):
        return np.concatenate([r for _, _, r in split])

    def truth(split, key):
        return true_values(root, raw, rows_of(split), key)

    def trivial(split, table, sigma=0.0):
        out = []
        for _, _, rows in split:
            c = np.nan_to_num(table.c[rows])
            if sigma > 0:
                c = gaussian_filter1d(c, sigma, axis=0, mode="nearest")
            out.append(c @ syn)
        return np.concatenate(out)

    def inversion(split, table, lam):
        drive = invert_table(table, rows_of(split), reduced=reduced, synergies=syn,
                             dt=1.0 / 25.0, window=args.window, smoothness=lam)  # fmt: skip
        return drive @ syn

    truths = {"train": truth(tr, "activations"), "test": truth(te, "activations")}
    ids = {name: sequence_ids(raw, rows_of(split)) for name, split in (("train", tr), ("test", te))}

    def score(est, split_name):
        return force_scores(est, truths[split_name], force_map=g, synergies=syn, pairs=pairs,
                            sequences=ids[split_name])  # fmt: skip

    rows, per_au = [], []

    def report(name, est):
        sc = score(est, "test")
        rows.append([name, sc.mean_synergy_r, float(np.nanmean(sc.synergy_r_sequence)),
                     sc.mean_pair_r, sc.null_error])  # fmt: skip
        per_au.append([name, *sc.synergy_r.tolist()])
        print(f"  {name}: r {sc.mean_synergy_r:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    report("oracle A^T I (true intensities)", truth(te, "intensity") @ syn)
    report("trivial A^T c (per-frame engine)", trivial(te, raw))
    sigmas = (0.5, 1.0, 2.0, 4.0)
    sigma = max(sigmas, key=lambda s: score(trivial(tr, raw, s), "train").mean_synergy_r)
    report(f"Gaussian-smoothed trivial (sigma {sigma:g} frames)", trivial(te, raw, sigma))
    report("RTS-smoothed trivial (main job's c)", trivial(te, smooth))
    grid = [float(v) for v in args.grid.split(",")]
    for name, table in (("per-frame", raw), ("RTS-smoothed", smooth)):
        lam = max(grid, key=lambda v: score(inversion(tr, table, v), "train").mean_synergy_r)
        report(f"inversion of the {name} c (lambda {lam:g})", inversion(te, table, lam))
    # the engine's levels read as AU intensities by a linear map fitted on training frames only:
    # every sequence of the training subjects (the 40 drawn ones are too few for its 17 x 18
    # parameters: on two halves of the training subjects, fitting on 40 sequences kept less than
    # half the gain of fitting on all, docs/physics_method.md)
    every = [(s, t, r) for s, t, r in seqs if s in train]
    every_rows = rows_of(every)
    every_truth = truth(every, "activations")
    smoothed_every = smoothed_coefficients(raw, sigma=sigma)[every_rows]  # NaN where no c
    targets = {"intensities": truth(every, "intensity")}
    # synthetic only: the synergy coordinates of the training subjects' true activations (the
    # estimand itself; no real dataset has it)
    targets["activations"] = synergy_coordinates(every_truth, force_map=g, synergies=syn)
    for target, values in targets.items():
        calibration = fit_coefficient_calibration(smoothed_every, values,
                                                  valid=raw.c_mask[every_rows])  # fmt: skip
        calibrated = copy.copy(raw)
        calibrated.c = calibration(np.nan_to_num(raw.c))
        report(f"calibrated trivial (ridge map to {target}, sigma {sigma:g} frames)",
               trivial(te, calibrated, sigma))  # fmt: skip
        lam = max(grid, key=lambda v: score(inversion(tr, calibrated, v), "train").mean_synergy_r)
        report(f"inversion of the c calibrated to {target} (lambda {lam:g})",
               inversion(te, calibrated, lam))  # fmt: skip
    # person-specific normalisation (no labels): each subject's q-th percentile of its
    # Gaussian-smoothed c over all its frames, subtracted before the ridge map is fitted and
    # applied (aujax.methods.physics.SubjectCalibration); q chosen on two halves of the training
    # subjects (fit on one, score the other)
    position = {r: k for k, r in enumerate(every_rows.tolist())}

    def held_out_r(calibrated, held):
        at = np.array([position[r] for r in held.tolist()])
        return force_scores(calibrated @ syn, every_truth[at], force_map=g, synergies=syn,
                            pairs=pairs, sequences=sequence_ids(raw, held)).mean_synergy_r  # fmt: skip

    quantile = choose_baseline_quantile(raw, every_rows, targets["intensities"], sigma=sigma,
                                        score=held_out_r)  # fmt: skip
    normalised = fit_subject_calibration(raw, every_rows, targets["intensities"], sigma=sigma,
                                         quantile=quantile)(raw)  # fmt: skip
    tag = f"subject baseline q {quantile:g} + ridge map to intensities"
    report(f"calibrated trivial ({tag}, sigma {sigma:g} frames)", trivial(te, normalised, sigma))
    lam = max(grid, key=lambda v: score(inversion(tr, normalised, v), "train").mean_synergy_r)
    report(f"inversion of the c calibrated with a {tag} (lambda {lam:g})",
           inversion(te, normalised, lam))  # fmt: skip
    print_table(
        ["estimate", "synergy r (pooled)", "synergy r (per sequence)", "pair r", "null error"],
        rows,
        title=(f"Activations from 2D landmarks, fold {args.fold} test subjects ({len(te)} "
               f"sequences, {len(ids['test'])} frames; choices on {len(tr)} training sequences)"),
    )  # fmt: skip
    print_table(["estimate", *[f"AU{a}" for a in model.aus]], per_au,
                title="Pearson r per AU synergy (pooled)")  # fmt: skip
    print(f"force_report: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
