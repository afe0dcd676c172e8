"""`python -m tools.jitter_report --preset small`: frame-to-frame jitter and error of the top-down
coefficients, per frame and smoothed by the reduced-dynamics Kalman/RTS smoother (issue 16).

On a synthetic BP4D-like copy (its true intensities sit beside it, in ``synthetic/``) with the main
job's settings (``experiments/configs/bp4d_physics.py``: template, engine, neutral, smoother):

1. every frame's coefficients ĉ(t) are reconstructed by the top-down engine against each subject's
   neutral estimated from its own frames (:func:`aujax.methods.topdown.reconstruct_coefficients`,
   no cache: the engine's current code is measured), timed;
2. the smoother's noise and hyper-parameters are fitted, without labels, on the training subjects'
   sequences of the chosen fold (:meth:`aujax.physics.CoefficientSmoother.fit`), then every
   sequence is smoothed (:func:`aujax.methods.topdown.smooth_table`), timed;
3. on the fold's test subjects it prints one row per variant: the rms frame-to-frame change of ĉ
   over consecutive valid frames of a sequence (per AU and frame, all 17 AUs of the basis), its
   ratio to the per-frame fits', and the mean absolute error against the true intensities (all
   17 AUs, and BP4D's 12), with the true intensities' own jitter for reference.

The variants: the per-frame fits; the same clipped to [0, 5] (the projection alone); the Gaussian
smoother (no Huber passes); the main job's smoother (config ``data.smoother``).
"""

import argparse
import dataclasses
import os
import platform
import time

import numpy as np

from tools._common import print_table


def _jitter(c, table, rows_mask):
    """RMS of c(t+1) - c(t) over consecutive valid frames of the selected sequences."""
    diffs = []
    for _, _, rows in table.sequences():
        if not rows_mask[rows[0]]:
            continue
        ok = table.c_mask[rows]
        consecutive = np.diff(table.frame[rows]) == 1
        pair = ok[1:] & ok[:-1] & consecutive
        diffs.append(np.diff(c[rows], axis=0)[pair])
    d = np.concatenate(diffs)
    return float(np.sqrt(np.mean(d**2)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.jitter_report", description=__doc__)
    ap.add_argument("--preset", default="small", help="synthetic BP4D-like preset (small, tiny)")
    ap.add_argument("--fold", type=int, default=1, help="test subjects of this fold (1-3)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import jax

    from aujax.datasets import cache_root, folds, load_bp4d_table, synthetic_intrinsics
    from aujax.face import AU_IDS
    from aujax.methods.topdown import (
        reconstruct_coefficients,
        smooth_table,
        synthetic_intensities,
        table_smoother,
        template_dynamics,
    )
    from aujax.synth import dataset_root
    from experiments.configs.bp4d_physics import get_config

    data = get_config("small").data
    cache = cache_root(data.cache_dir)
    root, synthetic = dataset_root("bp4d", given="", preset=args.preset, seed=args.seed,
                                   cache=cache, image_size=data.image_size)  # fmt: skip
    if not synthetic:
        raise SystemExit(f"{root} is not a synthetic copy: no true intensities to compare with.")
    table = load_bp4d_table(root, cache / "tfds" / root.name, image_size=None)
    truth = synthetic_intensities(root, dataclasses.replace(table, aus=tuple(AU_IDS)))
    bp4d_cols = [AU_IDS.index(a) for a in table.aus]
    train_subj, test_subj = folds("bp4d")[args.fold - 1]
    present = set(table.subject.tolist())
    train_subj = sorted(s for s in train_subj if s in present)
    test = np.isin(table.subject, sorted(test_subj))

    t0 = time.perf_counter()
    blendshapes, reduced = template_dynamics(n_vertices=data.template_vertices, seed=args.seed)
    t_template = time.perf_counter() - t0
    t0 = time.perf_counter()
    reconstruct_coefficients(
        table, blendshapes, intrinsics=synthetic_intrinsics(root),
        iterations=data.engine_iterations, nnls_iterations=data.engine_nnls_iterations,
        nnls_method=data.engine_nnls_method, neutral_fraction=data.engine_neutral_fraction,
    )  # fmt: skip
    t_engine = time.perf_counter() - t0
    raw = table.c.astype(np.float64).copy()
    ok = table.c_mask & test

    def row(name, c, seconds, note=""):
        jit = _jitter(c, table, test)
        err = np.abs(c - truth)[ok]
        return [name, jit, base_jitter / jit, float(err.mean()),
                float(err[:, bp4d_cols].mean()), seconds, note]  # fmt: skip

    base_jitter = _jitter(raw, table, test)
    n_frames = len(table)
    rows = [
        ["true intensities", _jitter(truth, table, test), "", 0.0, 0.0, "", ""],
        row("per-frame fits", raw, t_engine,
            f"engine, all {n_frames} frames ({1e3 * t_engine / n_frames:.1f} ms/frame)"),
        row("per-frame, clipped to [0, 5]", np.clip(raw, 0.0, 5.0), 0.0, "projection only"),
    ]  # fmt: skip
    variants = [
        ("RTS smoother, Gaussian", dict(data.smoother) | {"robust_iterations": 0}),
        ("RTS smoother (main job)", dict(data.smoother)),
    ]
    fitted_keys = []
    for name, options in variants:
        smoother = table_smoother(blendshapes, reduced, fps=25.0, options=options)
        table.c = raw.astype(np.float32)
        t0 = time.perf_counter()
        _, fitted = smooth_table(table, smoother, subjects=train_subj)
        t_total = time.perf_counter() - t0
        smoothed = table.c.astype(np.float64)
        table.c = raw.astype(np.float32)
        t0 = time.perf_counter()
        smooth_table(table, fitted)  # fitted: smoothing only (compiled)
        t_smooth = time.perf_counter() - t0
        n_seq = len(table.sequences())
        rows.append(row(name, smoothed, t_total,
                        f"fit + smooth {n_seq} sequences; smooth alone {t_smooth:.1f} s"))  # fmt: skip
        fitted_keys.append(f"{name}: {fitted.settings.key()}")
    table.c = raw.astype(np.float32)

    print(f"\nmachine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"jax {jax.__version__} on {jax.default_backend()}; data: {root.name}; fold "
          f"{args.fold}: fit on {len(train_subj)} training subjects, scored on "
          f"{len(set(table.subject[test].tolist()))} test subjects ({int(ok.sum())} valid "
          f"frames); template {data.template_vertices} vertices (built in {t_template:.0f} s)")  # fmt: skip
    print_table(
        ["variant", "jitter rms dĉ", "jitter reduction", "MAE (17 AUs)", "MAE (12 BP4D AUs)",
         "time (s)", "note"],
        rows,
        title="Frame-to-frame jitter and error of the blendshape coefficients (0-5 scale)",
    )  # fmt: skip
    for line in fitted_keys:
        print(f"  {line}")
    ratio, before, after = rows[-1][2], rows[1][3], rows[-1][3]
    print(f"\nissue bar: jitter reduced {ratio:.2f}x (>= 3x: {'yes' if ratio >= 3 else 'no'}), "
          f"MAE {before:.3f} -> {after:.3f} ({'reduced' if after < before else 'not reduced'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
