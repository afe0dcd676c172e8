r"""3D reconstruction errors of seed 004 (section 4.2): depth RMSE (eq. 14), mean vertex distance
(eq. 15), central-face regions, alignment, cumulative error distributions and tables.

Host-side NumPy in float64, like :mod:`._metrics`: errors are computed on gathered meshes, once
per evaluation, exactly reproducible from saved arrays. A prediction and its ground truth share
the vertex order (the model's topology, like the paper's ``S*`` and ``M``). Errors are in the
vertices' unit (centimetres in aujax, DESIGN §2; the paper reports millimetres: multiply by 10).

.. math::
    \mathrm{RMSE} = \sqrt{\frac{1}{n}\sum_{i=1}^n (z_i^\ast - z_i)^2}\quad\text{(eq. 14)},\qquad
    \mathrm{MAE} = \frac{1}{n}\sum_{i=1}^n \|v_i^\ast - v_i\|_2\quad\text{(eq. 15)}

Eq. 15 is the mean *Euclidean* distance per vertex (not a mean over coordinates); ``n`` is the
number of vertices of the evaluated region (the whole face, or the central face).

**Alignment (the paper is silent).** Under the orthographic camera of seed 004 (eq. 4) the depth
offset of the face is not observed, and eq. 14 compares depths, so some alignment must precede
it. :func:`align_prediction` offers ``"none"`` (meshes already in one frame, e.g. both are the
model's shape in the model frame), ``"depth"`` (the least-squares shift along z only: the
minimum eq. 14 needs), ``"translation"`` (least-squares 3D shift), ``"rigid"`` (Kabsch) and
``"similarity"`` (Umeyama). :func:`reconstruction_errors` defaults to ``"translation"``,
estimated on the whole face (``align_region``), then evaluates every region with that one
alignment.

**Central face (the paper is silent on its extent).** :func:`central_face_mask` keeps the
vertices within ``radius`` (3D Euclidean distance) of a centre (a point, or a vertex index such as
the nose tip) of a reference mesh; callers may pass any index set instead.
"""

from collections.abc import Hashable, Mapping, Sequence

import numpy as np


__all__ = [
    "ALIGNMENTS",
    "align_prediction",
    "ced",
    "central_face_mask",
    "depth_rmse",
    "error_table_csv",
    "error_table_markdown",
    "grouped_errors",
    "mean_vertex_distance",
    "reconstruction_errors",
    "vertex_distances",
]

ALIGNMENTS: tuple[str, ...] = ("none", "depth", "translation", "rigid", "similarity")


# --------------------------------------------------------------------------------------------
# validation


def _meshes(pred, target) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(f"pred must have shape (..., n_vertices, 3), got {p.shape}.")
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} must have the same shape.")
    if p.shape[-2] == 0:
        raise ValueError("pred and target have no vertices.")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("pred and target must be finite (no NaN or inf).")
    return p, t


def _region(region, n: int, name: str) -> np.ndarray:
    """A boolean (n,) mask from None (all), a boolean mask or an index set."""
    if region is None:
        return np.ones(n, dtype=bool)
    r = np.asarray(region)
    if r.dtype == bool:
        if r.shape != (n,):
            raise ValueError(f"{name}: a boolean mask must have shape ({n},), got {r.shape}.")
        mask = r
    else:
        if r.ndim != 1 or not np.issubdtype(r.dtype, np.integer):
            raise ValueError(
                f"{name} must be a boolean mask ({n},) or a 1-D array of vertex indices, got "
                f"dtype {r.dtype} and shape {r.shape}."
            )
        if r.size and (r.min() < -n or r.max() >= n):
            raise ValueError(
                f"{name}: vertex indices must be in [0, {n}), got {r.min()}..{r.max()}."
            )
        mask = np.zeros(n, dtype=bool)
        mask[r] = True
    if not np.any(mask):
        raise ValueError(f"{name} selects no vertex.")
    return mask


# --------------------------------------------------------------------------------------------
# regions and alignment


def central_face_mask(vertices, *, center, radius: float) -> np.ndarray:
    """The vertices within ``radius`` (3D Euclidean distance) of ``center``: the central face.

    Args:
        vertices: (n, 3) a reference mesh (e.g. the ground-truth neutral face).
        center: an int (a vertex index, e.g. the nose tip) or a (3,) point.
        radius: > 0, in the vertices' unit.

    Returns:
        (n,) boolean mask, at least one vertex selected.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (n, 3), got {v.shape}.")
    if not float(radius) > 0:
        raise ValueError(f"radius must be > 0, got {radius}.")
    if isinstance(center, (int, np.integer)):
        if not -v.shape[0] <= center < v.shape[0]:
            raise ValueError(f"center: vertex index {center} out of range [0, {v.shape[0]}).")
        c = v[center]
    else:
        c = np.asarray(center, dtype=np.float64)
        if c.shape != (3,):
            raise ValueError(f"center must be a vertex index or a (3,) point, got shape {c.shape}.")
    mask = np.linalg.norm(v - c[None, :], axis=1) <= radius
    if not np.any(mask):
        raise ValueError(f"no vertex lies within radius {radius} of the center.")
    return mask


def _umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool):
    """Batched least-squares similarity ``dst ~ s R src + t`` (Umeyama 1991), over (..., m, 3)."""
    mu_s = src.mean(axis=-2, keepdims=True)
    mu_d = dst.mean(axis=-2, keepdims=True)
    xs, xd = src - mu_s, dst - mu_d
    cov = np.einsum("...ni,...nj->...ij", xd, xs) / src.shape[-2]
    u, d, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    sign = np.where(sign == 0, 1.0, sign)
    e = np.stack([np.ones_like(sign), np.ones_like(sign), sign], axis=-1)  # (..., 3)
    rot = np.einsum("...ij,...j,...jk->...ik", u, e, vt)
    if with_scale:
        var = np.mean(np.sum(xs * xs, axis=-1), axis=-1)
        scale = np.sum(d * e, axis=-1) / np.where(var > 0, var, 1.0)
    else:
        scale = np.ones(src.shape[:-2])
    return scale, rot, mu_s, mu_d


def align_prediction(pred, target, *, align: str = "translation", region=None) -> np.ndarray:
    r"""Aligns a predicted mesh to its ground truth before the errors are measured.

    Each alignment is the least-squares one over the vertices of ``region``, applied to every
    vertex:

    * ``"none"``: unchanged;
    * ``"depth"``: ``z += mean(z* - z)`` (the orthographic camera does not observe depth; the
      minimiser of eq. 14 over a depth shift);
    * ``"translation"``: ``v += mean(v* - v)``;
    * ``"rigid"``: ``v <- R v + t`` (Kabsch, proper rotation);
    * ``"similarity"``: ``v <- s R v + t`` (Umeyama).

    Args:
        pred: (..., n, 3) predicted vertices.
        target: (..., n, 3) ground truth, same vertex order.
        align: one of :data:`ALIGNMENTS`.
        region: the vertices the alignment is estimated on: None (all), a boolean (n,) mask or
            vertex indices (3 non-collinear vertices at least for ``"rigid"`` / ``"similarity"``).

    Returns:
        (..., n, 3) float64 aligned prediction.
    """
    p, t = _meshes(pred, target)
    if align not in ALIGNMENTS:
        raise ValueError(f"align must be one of {ALIGNMENTS}, got {align!r}.")
    mask = _region(region, p.shape[-2], "region")
    ps, ts = p[..., mask, :], t[..., mask, :]
    if align == "none":
        return p.copy()
    if align == "depth":
        shift = np.zeros(p.shape[:-2] + (1, 3))
        shift[..., 0, 2] = np.mean(ts[..., 2] - ps[..., 2], axis=-1)
        return p + shift
    if align == "translation":
        return p + np.mean(ts - ps, axis=-2, keepdims=True)
    if ps.shape[-2] < 3:
        raise ValueError(
            f"align={align!r} needs at least 3 vertices in region, got {ps.shape[-2]}."
        )
    scale, rot, mu_s, mu_d = _umeyama(ps, ts, with_scale=align == "similarity")
    moved = np.einsum("...ij,...nj->...ni", rot, p - mu_s) * scale[..., None, None]
    return moved + mu_d


# --------------------------------------------------------------------------------------------
# errors


def vertex_distances(pred, target) -> np.ndarray:
    """Euclidean distance of each vertex to its ground truth (the error map of fig. 3).

    Args:
        pred, target: (..., n, 3).

    Returns:
        (..., n) float64.
    """
    p, t = _meshes(pred, target)
    return np.linalg.norm(p - t, axis=-1)


def depth_rmse(pred, target, *, region=None) -> np.ndarray:
    r"""Depth root-mean-square error, seed 004 eq. 14, over the vertices of ``region``.

    .. math::
        \mathrm{RMSE} = \sqrt{\frac{1}{n}\sum_{i=1}^n (z_i^\ast - z_i)^2}

    No alignment here (see :func:`align_prediction`).

    Args:
        pred, target: (..., n, 3) reconstructed and ground-truth vertices.
        region: None (all vertices), a boolean (n,) mask or vertex indices.

    Returns:
        (...) float64 (a 0-d array for one mesh).
    """
    p, t = _meshes(pred, target)
    mask = _region(region, p.shape[-2], "region")
    return np.sqrt(np.mean(np.square(t[..., mask, 2] - p[..., mask, 2]), axis=-1))


def mean_vertex_distance(pred, target, *, region=None) -> np.ndarray:
    r"""Mean Euclidean vertex distance ("MAE"), seed 004 eq. 15, over the vertices of ``region``.

    .. math::
        \mathrm{MAE} = \frac{1}{n}\sum_{i=1}^n \|v_i^\ast - v_i\|_2

    (per-vertex 3D distance, not a mean of absolute coordinate differences).

    Args:
        pred, target: (..., n, 3).
        region: None (all vertices), a boolean (n,) mask or vertex indices.

    Returns:
        (...) float64.
    """
    p, t = _meshes(pred, target)
    mask = _region(region, p.shape[-2], "region")
    return np.mean(np.linalg.norm(t[..., mask, :] - p[..., mask, :], axis=-1), axis=-1)


def reconstruction_errors(
    pred,
    target,
    *,
    regions: Mapping[str, object] | None = None,
    align: str = "translation",
    align_region=None,
) -> dict[str, np.ndarray]:
    """Eq. 14 and eq. 15 on each region after one alignment (seed 004, section 4.2).

    Args:
        pred: (..., n, 3) reconstructed vertices (e.g. (B, n, 3) for B test samples).
        target: (..., n, 3) ground truth (``S*`` or ``M``), same vertex order.
        regions: ``{name: region}`` with region None (whole face), a boolean (n,) mask or vertex
            indices (e.g. ``{"whole": None, "central": central_face_mask(...)}``); default
            ``{"whole": None}``.
        align: the alignment (:func:`align_prediction`), estimated once on ``align_region``.
        align_region: the vertices the alignment is estimated on (None: all).

    Returns:
        ``{"rmse_<name>": (...), "mae_<name>": (...)}`` float64 arrays, per region, in order.
    """
    aligned = align_prediction(pred, target, align=align, region=align_region)
    t = np.asarray(target, dtype=np.float64)
    regions = {"whole": None} if regions is None else dict(regions)
    if not regions:
        raise ValueError("regions must name at least one region.")
    out: dict[str, np.ndarray] = {}
    for name, region in regions.items():
        mask = _region(region, t.shape[-2], f"regions[{name!r}]")
        out[f"rmse_{name}"] = depth_rmse(aligned, t, region=mask)
        out[f"mae_{name}"] = mean_vertex_distance(aligned, t, region=mask)
    return out


# --------------------------------------------------------------------------------------------
# distributions and groups


def ced(errors, *, thresholds=None) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution (fig. 7 of seed 004): the fraction of samples with error <= t.

    Args:
        errors: (B,) per-sample errors (finite, >= 0 not required).
        thresholds: (T,) non-decreasing thresholds; None: the sorted distinct errors (the
            empirical distribution function, which ends at 1).

    Returns:
        ``(thresholds (T,), fractions (T,))``: fractions non-decreasing in [0, 1], equal to 1 from
        the largest error on.
    """
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    if e.size == 0:
        raise ValueError("errors is empty.")
    if not np.all(np.isfinite(e)):
        raise ValueError("errors must be finite (drop failed samples before the CED).")
    if thresholds is None:
        th = np.unique(e)
    else:
        th = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        if th.size == 0 or not np.all(np.isfinite(th)) or np.any(np.diff(th) < 0):
            raise ValueError("thresholds must be a non-empty, finite, non-decreasing sequence.")
    fractions = np.searchsorted(np.sort(e), th, side="right") / e.size
    return th, fractions


def grouped_errors(
    errors,
    groups: Sequence[Hashable],
    *,
    order: Sequence[Hashable] | None = None,
    total: bool = False,
) -> dict[Hashable, dict[str, float]]:
    """Mean errors per group (per expression class, fig. 4; per yaw, fig. 5).

    Args:
        errors: (B,) per-sample errors, or ``{metric: (B,)}`` (e.g. from
            :func:`reconstruction_errors`).
        groups: (B,) the group label of each sample.
        order: the groups in the order wanted (every label must be listed; a listed group without
            samples is left out); default: order of first appearance.
        total: add an ``"all"`` row over every sample.

    Returns:
        ``{group: {"n": count, <metric>: mean, ...}}``; an array input has the metric ``"mean"``.
    """
    metrics = dict(errors) if isinstance(errors, Mapping) else {"mean": errors}
    labels = list(groups)
    b = len(labels)
    arrays = {}
    for name, e in metrics.items():
        a = np.asarray(e, dtype=np.float64)
        if a.shape != (b,):
            raise ValueError(f"errors[{name!r}] must have shape ({b},) like groups, got {a.shape}.")
        arrays[name] = a
    seen = list(dict.fromkeys(labels))
    if order is None:
        keys = seen
    else:
        keys = list(order)
        missing = [g for g in seen if g not in keys]
        if missing:
            raise ValueError(f"order does not list the groups {missing}.")
        keys = [g for g in keys if g in seen]
    out: dict[Hashable, dict[str, float]] = {}
    for g in keys:
        sel = np.array([x == g for x in labels], dtype=bool)
        out[g] = {"n": int(sel.sum())} | {k: float(np.mean(a[sel])) for k, a in arrays.items()}
    if total:
        if "all" in out:
            raise ValueError("total=True: a group is already called 'all'.")
        out["all"] = {"n": b} | {k: float(np.mean(a)) for k, a in arrays.items()}
    return out


# --------------------------------------------------------------------------------------------
# tables


def _table(rows: Mapping[Hashable, Mapping[str, float]], columns):
    if not rows:
        raise ValueError("rows is empty.")
    if columns is None:
        columns = list(dict.fromkeys(c for r in rows.values() for c in r))
    return list(columns)


def _cell(value, precision: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    v = float(value)
    return "nan" if np.isnan(v) else f"{v:.{precision}f}"


def error_table_markdown(
    rows: Mapping[Hashable, Mapping[str, float]],
    *,
    columns: Sequence[str] | None = None,
    label: str = "group",
    title: str | None = None,
    precision: int = 4,
    note: str = "",
) -> str:
    """A Markdown table of error rows (e.g. :func:`grouped_errors`, or methods x metrics).

    Args:
        rows: ``{row label: {column: value}}``; a missing value prints empty, integers as
            integers (counts), floats with ``precision`` decimals.
        columns: the columns in order; default: every column, in order of first appearance.
        label: the header of the row-label column.
        title: an optional ``### title`` line.
        precision: decimals of float values.
        note: an optional line under the table.

    Returns:
        The table, ending with a newline.
    """
    cols = _table(rows, columns)
    out = [f"### {title}", ""] if title else []
    out += ["| " + " | ".join([label] + cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for name, r in rows.items():
        out.append(
            "| " + " | ".join([str(name)] + [_cell(r.get(c), precision) for c in cols]) + " |"
        )
    if note:
        out += ["", note]
    return "\n".join(out) + "\n"


def error_table_csv(
    rows: Mapping[Hashable, Mapping[str, float]],
    *,
    columns: Sequence[str] | None = None,
    label: str = "group",
    precision: int = 6,
) -> str:
    """The rows of :func:`error_table_markdown` as CSV (floats with ``precision`` decimals)."""
    cols = _table(rows, columns)
    for name in rows:
        if any(ch in str(name) for ch in ',"\n'):
            raise ValueError(f"row label {name!r} contains a comma, quote or newline.")
    lines = [",".join([label] + cols)]
    lines += [
        ",".join([str(n)] + [_cell(r.get(c), precision) for c in cols]) for n, r in rows.items()
    ]
    return "\n".join(lines) + "\n"
