"""Table 2's image judge with and without OpenFace's person-specific normalisation.

Measures, on the cached data of the ``disfa_synthesis`` config (``small`` preset by default: the
DISFA-like frames and the extraction cache in ``~/.cache/aujax``), the image judge (HOG + linear
SVR) trained as the experiment trains it (:func:`judge_training_rows`, 30 % of the training
subjects' non-neutral valid frames, ``judges.image_c``, ``judges.image_svr_solver``) with
``normalise="none"`` and ``"person_median"``:

1. **the choice, on training subjects only**: a leave-subjects-out split of the 25 training
   subjects (``--folds`` groups drawn with ``--seed``): the judge is fitted on the judge rows of
   the other groups' subjects and scored on every non-neutral valid frame of the held-out ones
   (as the test set is built), the median of a held-out subject over those frames;
2. **the test figures**: fitted on all judge rows, scored on the test subjects' non-neutral valid
   crops (the experiment's "Real" row of Table 2), beside the training label means.

Usage: ``python -m tools.ausynth_person_median [--preset small] [--c 0.1] [--folds 5]``.
"""

import argparse
import time

import jax
import numpy as np

from aujax.methods.ausynth import (
    crop_features,
    extract_all,
    fit_image_judge,
    fit_parameter_judges,
    image_judge_predict,
    judge_metrics,
    judge_predictions,
    judge_training_rows,
    load_synthesis_data,
    person_median_features,
    split_subjects,
)
from experiments.configs.disfa_synthesis import get_config


MODES = ("none", "person_median")


def _scores(y, pred) -> dict:
    m = judge_metrics(y, pred)
    return {"mae": m["mae_mean"], "mse": m["mse_mean"], "icc": m["icc_mean"]}


def _line(name: str, s: dict) -> str:
    return f"  {name:<22} MAE {s['mae']:.4f}  MSE {s['mse']:.4f}  ICC {s['icc']:.3f}"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--c", type=float, nargs="+", default=None, help="SVR C (default: config)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="the grouping of the training subjects")
    args = ap.parse_args(argv)
    cfg = get_config(args.preset)
    j, seed = cfg.judges, int(cfg.seed)
    cs = args.c or [float(j.image_c)]
    t0 = time.perf_counter()
    data = load_synthesis_data(cfg, log=print)
    params = extract_all(data, cfg, log=print)
    print(f"data + parameters: {time.perf_counter() - t0:.0f} s")
    train_s, test_s = split_subjects(data.subjects, seed=seed, n_test=int(cfg.split.test_subjects),
                                     fold=int(cfg.split.fold))  # fmt: skip
    rows = np.flatnonzero(np.isin(data.subject, train_s) & params.valid)
    judge_rows = rows[judge_training_rows(data.labels[rows], fraction=float(j.fraction),
                                          key=jax.random.key(seed))]  # fmt: skip
    # the experiment's test set (_test_sets): the test subjects' non-neutral valid frames
    target = params.valid & np.any(data.labels > 0, axis=1)
    test_rows = np.flatnonzero(np.isin(data.subject, test_s) & target)
    print(f"split: {len(train_s)} training subjects, test {list(test_s)}; judge rows "
          f"{judge_rows.size}, test rows {test_rows.size}")  # fmt: skip
    kw = dict(aus=data.aus, epsilon=float(j.epsilon), svr_solver=j.image_svr_solver)

    # 1. leave-subjects-out on the training subjects (HOG once; fit_image_judge's own path:
    # the features, normalised, into the same linear SVR)
    t0 = time.perf_counter()
    pool = np.flatnonzero(np.isin(data.subject, train_s) & target)  # held-out frames
    need = np.union1d(judge_rows, pool)
    feats = np.asarray(crop_features(data.images[need]), np.float64)
    at = {r: i for i, r in enumerate(need)}
    order = np.random.default_rng(args.seed).permutation(len(train_s))
    groups = [[train_s[i] for i in order[g :: args.folds]] for g in range(args.folds)]
    cv = {(c, m): [] for c in cs for m in MODES}
    chance = []
    for g, held in enumerate(groups):
        fit_r = judge_rows[~np.isin(data.subject[judge_rows], held)]
        val_r = pool[np.isin(data.subject[pool], held)]
        xf, xv = feats[[at[r] for r in fit_r]], feats[[at[r] for r in val_r]]
        yv = data.labels[val_r]
        chance.append(_scores(yv, np.broadcast_to(data.labels[fit_r].mean(axis=0), yv.shape)))
        for mode in MODES:
            if mode == "person_median":
                xf_m = person_median_features(xf, data.subject[fit_r])
                xv_m = person_median_features(xv, data.subject[val_r])
            else:
                xf_m, xv_m = xf, xv
            for c in cs:
                judge = fit_parameter_judges(xf_m, data.labels[fit_r], c=c, **kw)
                s = _scores(yv, judge_predictions(judge, xv_m))
                cv[(c, mode)].append(s)
                print(f"fold {g} (held out {held}), C {c:g}, {mode}: MAE {s['mae']:.4f} MSE "
                      f"{s['mse']:.4f} (chance {chance[-1]['mae']:.4f} / "
                      f"{chance[-1]['mse']:.4f}), {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    print(
        f"\nleave-subjects-out on the {len(train_s)} training subjects ({args.folds} groups), "
        "mean over folds:"
    )
    mean = {k: {m: float(np.mean([f[m] for f in v])) for m in ("mae", "mse", "icc")}
            for k, v in cv.items()}  # fmt: skip
    for (c, mode), s in mean.items():
        print(_line(f"C {c:g} {mode}", s))
    print(_line("training label means", {m: float(np.mean([f[m] for f in chance]))
                                          for m in ("mae", "mse", "icc")}))  # fmt: skip
    best_c, best_mode = min(mean, key=lambda k: mean[k]["mae"])
    print(f"choice (lowest leave-subjects-out MAE): C {best_c:g}, normalise={best_mode!r}")

    # 2. the test subjects' real crops, with the experiment's C, through the public API
    print(f"\ntest subjects {list(test_s)} ({test_rows.size} non-neutral frames), C {j.image_c}:")
    y_test = data.labels[test_rows]
    test = {}
    for mode in MODES:
        t1 = time.perf_counter()
        judge = fit_image_judge(data.images[judge_rows], data.labels[judge_rows],
                                c=float(j.image_c), normalise=mode,
                                subjects=data.subject[judge_rows], **kw)  # fmt: skip
        pred = image_judge_predict(judge, data.images[test_rows],
                                   subjects=data.subject[test_rows])  # fmt: skip
        test[mode] = _scores(y_test, pred)
        m = judge_metrics(y_test, pred, aus=data.aus)
        print(_line(mode, test[mode]) + f"  ({time.perf_counter() - t1:.0f} s)")
        print("    per AU MAE: " + " ".join(f"AU{a} {v:.2f}" for a, v in zip(data.aus, m["mae"],
                                                                             strict=True)))  # fmt: skip
    ch = judge_metrics(y_test, np.broadcast_to(data.labels[judge_rows].mean(axis=0), y_test.shape))
    print(_line("training label means", {"mae": ch["mae_mean"], "mse": ch["mse_mean"],
                                         "icc": ch["icc_mean"]}))  # fmt: skip
    return {"cv": mean, "choice": (best_c, best_mode), "test": test}


if __name__ == "__main__":
    main()
