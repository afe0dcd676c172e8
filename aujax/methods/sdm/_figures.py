"""Figures of the seed 004 experiment: CED curves (fig. 7) and error maps on the mesh (fig. 3)."""

import numpy as np

from ...train import align_prediction, ced, vertex_distances


__all__ = ["ced_figure", "error_map_figure"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ced_figure(path, t1e: dict, labels: dict, unit: str) -> None:
    """Fig. 7: cumulative error distributions of the RMSE (eq. 14) against M, (a) central face,
    (b) whole face, one curve per method (``t1e``: method -> per-sample error columns)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panels = (("rmse_M_central", "(a) central face"), ("rmse_M_whole", "(b) whole face"))
    for ax, (col, what) in zip(axes, panels, strict=True):
        for k in ("ours", "hog", "landmarks"):
            th, frac = ced(t1e[k][col])
            ax.step(np.concatenate([[0.0], th]), np.concatenate([[0.0], frac]), where="post",
                    label=labels[k])  # fmt: skip
        ax.set_xlabel(f"RMSE (eq. 14) vs M, {unit}")
        ax.set_ylabel("fraction of test samples")
        ax.set_title(what)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Fig. 7 analogue — CED on the frontal neutral test samples")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def error_map_figure(path, ex, all_rows, ours_all, splits, models, unit, *, per_class=1) -> None:
    """Fig. 3: per expression class one test sample: the image, the reconstruction, and the
    per-vertex distance to M on the mesh (``ours``, frontal view, after the evaluation's
    alignment ``eval.align``, so the colours average to the MAE in the titles)."""
    del splits, models
    plt = _plt()
    d = ex.data
    errors = np.concatenate([e["mae_M_whole"] for e in ours_all])
    picks = []
    for group in ("NEUTRAL", "HAPPY", "SURPRISE", "ANGER", "DISGUST", "FEAR", "SADNESS", "AU"):
        idx = [
            i
            for i, r in enumerate(all_rows)
            if d.expression[r] == group
            and d.classes[r].split("_")[0] not in ("YR", "PR", "CR", "O")
        ]
        if idx:
            picks.extend(idx[:per_class])
    picks = picks[:6] or [0]
    rows = all_rows[picks]
    pred = align_prediction(_reconstruct(ex, rows), d.mesh[rows], align=ex.cfg.eval.align)
    dist = vertex_distances(pred, d.mesh[rows]) * float(ex.cfg.eval.unit_scale)
    faces = np.asarray(d.faces)
    vmax = float(np.percentile(dist, 98))
    fig, axes = plt.subplots(3, len(picks), figsize=(2.4 * len(picks), 7.2), squeeze=False)
    for j, (i, r) in enumerate(zip(picks, rows, strict=True)):
        axes[0, j].imshow(d.images[r], cmap="gray")
        axes[0, j].plot(d.landmarks[r, :, 0], d.landmarks[r, :, 1], ".", ms=2, color="lime")
        axes[0, j].set_title(f"{d.stems[r]}\nMAE {errors[i]:.2f} {unit}", fontsize=7)
        axes[1, j].tripcolor(pred[j, :, 0], pred[j, :, 1], faces, pred[j, :, 2], cmap="gray",
                             shading="gouraud")  # fmt: skip
        im = axes[2, j].tripcolor(pred[j, :, 0], pred[j, :, 1], faces, dist[j], cmap="jet",
                                  vmin=0, vmax=vmax, shading="gouraud")  # fmt: skip
        for a in axes[:, j]:
            a.set_xticks([]), a.set_yticks([])
        axes[1, j].set_aspect("equal"), axes[2, j].set_aspect("equal")
    axes[0, 0].set_ylabel("input + landmarks", fontsize=8)
    axes[1, 0].set_ylabel("reconstruction (depth)", fontsize=8)
    axes[2, 0].set_ylabel(f"distance to M ({unit})", fontsize=8)
    fig.colorbar(im, ax=axes[2, :].tolist(), shrink=0.8)
    fig.suptitle("Fig. 3 analogue — ours on test samples: error maps against M")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _reconstruct(ex, rows):
    """The ``ours`` reconstruction of ``rows`` with the cascade of the run that tests them."""
    from ._experiment import _predict

    out = np.zeros((rows.size, ex.data.model.n_vertices, 3))
    for k, r in enumerate(rows):
        run = next(i for i, (_, te) in enumerate(ex.splits) if ex.data.subjects[r] in te)
        out[k] = _predict(ex, "ours", ex.ours_models[run], np.array([r]))[0]
    return out
