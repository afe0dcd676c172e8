"""Figures 4 and 5 of seed 001 §4.4, as pure functions over NumPy arrays (issue 17 item 5).

Figure 4 shows what the estimated activations do over a test window chosen for its label onsets
and offsets (:func:`choose_window`): one panel per AU with the label as a shaded span, each
estimate of the activation of that AU's synergy as a line and, on synthetic data, the true
activation. Figure 5 shows the estimated nodal force field on the template mesh beside the true
field (synthetic data) and beside the frame; :func:`synergy_fields` turns per-muscle activations
into such fields.

The plotting functions select matplotlib's Agg backend themselves and return the pixel size of
the PNG they wrote.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..._checks import check_triangles
from ...datasets import NOT_CODED


__all__ = ["choose_window", "figure4", "figure5", "synergy_fields"]

_DPI = 110
# line colours of the estimates after the first (tab:blue); red is the label's, black the truth's
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
            "tab:olive", "tab:cyan", "tab:gray")  # fmt: skip


def choose_window(labels: np.ndarray, *, length: int, min_coded: float = 0.8) -> int:
    """The start of the window of ``length`` frames with the most label onsets and offsets.

    A change is counted between consecutive frames that are both coded and whose labels differ,
    summed over AUs; a window ``[start, start + length)`` holds the ``length - 1`` transitions
    between its frames. Only windows with at least ``min_coded`` of their ``length * K`` entries
    coded compete; if none has that many, every window does. Ties go to the earliest window.

    Args:
        labels: (T, K) int, 0/1 per frame and AU, ``NOT_CODED`` (9) where not coded.
        length: window length in frames, ``1 <= length <= T``.
        min_coded: fraction in [0, 1] of coded entries a window needs to compete.

    Returns:
        ``start`` with ``0 <= start <= T - length``.

    Raises:
        ValueError: if ``labels`` is not 2-D, ``length < 1`` or ``T < length``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (T, K), got shape {labels.shape}")
    length = int(length)
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    t = labels.shape[0]
    if t < length:
        raise ValueError(f"length = {length} is longer than the labels (T = {t} frames)")
    coded = labels != NOT_CODED
    both = coded[1:] & coded[:-1]
    changes = np.sum(both & (labels[1:] != labels[:-1]), axis=1)  # (T - 1,)
    # windowed sums by cumulative sums: transitions start..start+length-2, frames start..+length-1
    c_changes = np.concatenate([[0], np.cumsum(changes)])
    c_coded = np.concatenate([[0], np.cumsum(np.sum(coded, axis=1))])
    starts = np.arange(t - length + 1)
    n_changes = c_changes[starts + length - 1] - c_changes[starts]
    frac = (c_coded[starts + length] - c_coded[starts]) / max(length * labels.shape[1], 1)
    ok = frac >= min_coded
    if not np.any(ok):
        ok = np.ones_like(ok)
    return int(np.argmax(np.where(ok, n_changes, -1)))


def _spans(mask: np.ndarray, edges: np.ndarray) -> list[tuple[float, float]]:
    """The (left, right) x extents of the runs of True in ``mask`` (T,), ``edges`` (T + 1,)."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [(edges[a], edges[b]) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1),
                                                   strict=True)]  # fmt: skip


def _frame_edges(frames: np.ndarray) -> np.ndarray:
    """(T + 1,) boundaries between the frames: midpoints, the ends half a step out."""
    f = frames.astype(float)
    if f.size == 1:
        return np.array([f[0] - 0.5, f[0] + 0.5])
    mid = (f[1:] + f[:-1]) / 2
    return np.concatenate([[f[0] - (f[1] - f[0]) / 2], mid, [f[-1] + (f[-1] - f[-2]) / 2]])


def figure4(
    path: str | os.PathLike,
    *,
    frames: np.ndarray,
    aus: Sequence[int],
    labels: np.ndarray,
    estimates: Mapping[str, np.ndarray],
    truth: np.ndarray | None = None,
    title: str = "",
) -> tuple[int, int]:
    """Figure 4: estimated activation per AU synergy against the AU labels, one panel per AU.

    The label is a light red span where it is 1 and a hatched grey span where it is not coded;
    each estimate is a line (the first solid blue), the truth a black dashed line.

    Args:
        path: the PNG to write.
        frames: (T,) frame numbers, the x axis.
        aus: the K AU numbers of the columns.
        labels: (T, K) int, 0/1, ``NOT_CODED`` (9) where not coded.
        estimates: name -> (T, K) estimated activation of each AU's synergy (AU-intensity
            units, roughly 0-5).
        truth: optional (T, K) true synergy coordinates (synthetic data).
        title: appended to the figure's title (e.g. the sequence).

    Returns:
        (height, width) of the PNG in pixels.

    Raises:
        ValueError: if a shape does not match; the message names the argument.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    frames = np.asarray(frames)
    if frames.ndim != 1 or frames.size == 0:
        raise ValueError(f"frames must be (T,) with T >= 1, got shape {frames.shape}")
    aus = [int(a) for a in aus]
    t, k = frames.size, len(aus)
    if k == 0:
        raise ValueError("aus must name at least one AU")
    labels = np.asarray(labels)
    if labels.shape != (t, k):
        raise ValueError(
            f"labels must be (T, K) = ({t}, {k}) (T = len(frames), K = len(aus)), got shape "
            f"{labels.shape}"
        )
    if not np.all(np.isin(labels, (0, 1, NOT_CODED))):
        raise ValueError(f"labels must be 0, 1 or {NOT_CODED} (not coded)")
    est = {}
    for name, e in estimates.items():
        e = np.asarray(e, dtype=float)
        if e.shape != (t, k):
            raise ValueError(f"estimates[{name!r}] must be (T, K) = ({t}, {k}), got {e.shape}")
        est[name] = e
    if truth is not None:
        truth = np.asarray(truth, dtype=float)
        if truth.shape != (t, k):
            raise ValueError(f"truth must be (T, K) = ({t}, {k}), got shape {truth.shape}")

    edges = _frame_edges(frames)
    colours = {n: _COLOURS[i % len(_COLOURS)] for i, n in enumerate(est)}
    fig, axes = plt.subplots(k, 1, figsize=(9.0, 1.3 * k + 1.1), sharex=True, dpi=_DPI,
                             squeeze=False)  # fmt: skip
    axes = axes[:, 0]
    for j, (ax, au) in enumerate(zip(axes, aus, strict=True)):
        for a, b in _spans(labels[:, j] == 1, edges):
            ax.axvspan(a, b, color="tab:red", alpha=0.18, linewidth=0)
        for a, b in _spans(labels[:, j] == NOT_CODED, edges):
            ax.axvspan(a, b, facecolor="0.88", edgecolor="0.6", hatch="///", linewidth=0)
        for name, e in est.items():
            ax.plot(frames, e[:, j], color=colours[name], linewidth=1.2)
        if truth is not None:
            ax.plot(frames, truth[:, j], color="black", linestyle="--", linewidth=1.0)
        ax.set_ylabel(f"AU{au}")
        ax.tick_params(labelsize=8)
    axes[-1].set_xlabel("frame")
    axes[-1].set_xlim(edges[0], edges[-1])

    handles = [Patch(facecolor="tab:red", alpha=0.18, label="label = 1"),
               Patch(facecolor="0.88", edgecolor="0.6", hatch="///", label="not coded")]  # fmt: skip
    handles += [Line2D([], [], color=colours[n], linewidth=1.2, label=n) for n in est]
    if truth is not None:
        handles.append(Line2D([], [], color="black", linestyle="--", label="true"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=8,
               frameon=False)  # fmt: skip
    head = "Figure 4: estimated activation per AU synergy vs labels"
    fig.suptitle(f"{head}\n{title}" if title else head, fontsize=10)
    legend_h = 0.25 * ((len(handles) + 4) // 5) / fig.get_figheight()
    fig.tight_layout(rect=(0, legend_h + 0.02, 1, 1))
    return _save(fig, path)


def figure5(
    path: str | os.PathLike,
    *,
    vertices: np.ndarray,
    triangles: np.ndarray,
    estimated: np.ndarray,
    truth: np.ndarray | None = None,
    image: np.ndarray | None = None,
    title: str = "",
    arrows: int = 60,
) -> tuple[int, int]:
    """Figure 5: the estimated nodal force field on the mesh, beside the frame and the truth.

    Panels left to right: the frame (if given), the estimated field, the true field (if given).
    A field panel shows the mesh in the x-y plane coloured by the force magnitude (one colour
    scale shared by the estimated and true fields) and arrows of the x-y force components at the
    ``arrows`` vertices of largest magnitude (one arrow scale shared too).

    Args:
        path: the PNG to write.
        vertices: (V, 3) template neutral positions (x right, y up, z toward the viewer).
        triangles: (F, 3) int vertex indices.
        estimated: (V, 3) estimated nodal forces.
        truth: optional (V, 3) true nodal forces (synthetic data).
        image: optional (H, W, 3) or (H, W) frame, float in [0, 1] or uint8.
        title: appended to the figure's title (e.g. sequence and frame).
        arrows: how many vertices get an arrow (0: none).

    Returns:
        (height, width) of the PNG in pixels.

    Raises:
        ValueError: if a shape does not match; the message names the argument.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vertices = np.asarray(vertices, dtype=float)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or vertices.shape[0] < 3:
        raise ValueError(f"vertices must be (V, 3) with V >= 3, got shape {vertices.shape}")
    v = vertices.shape[0]
    triangles = check_triangles(triangles, "triangles", v)
    fields = {"estimated": np.asarray(estimated, dtype=float)}
    if truth is not None:
        fields["true"] = np.asarray(truth, dtype=float)
    for name, f in zip(("estimated", "truth"), fields.values(), strict=False):
        if f.shape != (v, 3):
            raise ValueError(f"{name} must be (V, 3) = ({v}, 3), got shape {f.shape}")
    if image is not None:
        image = np.asarray(image)
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(f"image must be (H, W, 3) or (H, W), got shape {image.shape}")
    arrows = int(arrows)
    if arrows < 0:
        raise ValueError(f"arrows must be >= 0, got {arrows}")

    mags = {n: np.linalg.norm(f, axis=1) for n, f in fields.items()}
    vmax = max(float(np.max(m)) for m in mags.values())
    vmax = vmax if vmax > 0 else 1.0
    xy_max = max(float(np.max(np.linalg.norm(f[:, :2], axis=1))) for f in fields.values())
    extent = float(np.max(np.ptp(vertices[:, :2], axis=0)))
    # quiver scale: data units of force per unit of x-y, the longest arrow 15% of the mesh
    scale = xy_max / (0.15 * extent) if xy_max > 0 and extent > 0 else None

    n = len(fields) + (image is not None)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.6), dpi=_DPI, squeeze=False)
    axes = list(axes[0])
    if image is not None:
        ax = axes.pop(0)
        if image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255 if image.dtype == np.uint8 else 1)
        else:
            ax.imshow(image)
        ax.set_title("frame", fontsize=10)
        ax.axis("off")
    x, y = vertices[:, 0], vertices[:, 1]
    for ax, (name, f) in zip(axes, fields.items(), strict=True):
        tpc = ax.tripcolor(x, y, triangles, mags[name], shading="gouraud", cmap="magma",
                           vmin=0.0, vmax=vmax)  # fmt: skip
        fig.colorbar(tpc, ax=ax, shrink=0.8, label="|force|")
        if arrows and scale is not None:
            top = np.argsort(-mags[name], kind="stable")[:arrows]
            ax.quiver(x[top], y[top], f[top, 0], f[top, 1], color="cyan", angles="xy",
                      scale_units="xy", scale=scale, width=0.004)  # fmt: skip
        ax.set_title(name, fontsize=10)
        ax.set_aspect("equal")
        ax.axis("off")
    head = "Figure 5: estimated force field on the mesh"
    fig.suptitle(f"{head}\n{title}" if title else head, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def synergy_fields(activations: np.ndarray, *, per_muscle_field: np.ndarray) -> np.ndarray:
    """The nodal force field of each frame: activations times the unit field of each muscle.

    Args:
        activations: (T, M) activation of each muscle per frame.
        per_muscle_field: (M, V, 3) nodal force of unit activation of each muscle.

    Returns:
        (T, V, 3) nodal force field per frame, ``sum_m activations[t, m] * per_muscle_field[m]``.

    Raises:
        ValueError: if a shape does not match; the message names the argument.
    """
    activations = np.asarray(activations)
    per_muscle_field = np.asarray(per_muscle_field)
    if activations.ndim != 2:
        raise ValueError(f"activations must be (T, M), got shape {activations.shape}")
    if per_muscle_field.ndim != 3 or per_muscle_field.shape[2] != 3:
        raise ValueError(f"per_muscle_field must be (M, V, 3), got shape {per_muscle_field.shape}")
    if per_muscle_field.shape[0] != activations.shape[1]:
        raise ValueError(
            f"per_muscle_field has M = {per_muscle_field.shape[0]} muscles, activations "
            f"M = {activations.shape[1]}"
        )
    return np.einsum("tm,mvc->tvc", activations, per_muscle_field)


def _save(fig, path: str | os.PathLike) -> tuple[int, int]:
    """Writes ``fig`` as a PNG at the module's dpi, closes it; (height, width) in pixels."""
    import matplotlib.pyplot as plt

    w, h = fig.canvas.get_width_height()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return h, w
