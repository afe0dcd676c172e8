r"""Figures 6-8 of seed 002 (§4.4): colour maps of the 3D mesh deformation between a neutral face and
the faces synthesised from AU labels.

The paper feeds a randomly chosen neutral face (all-zero labels) to the generator with target
labels and shows, on the synthesised mesh, "colormaps of 3D mesh deformation between the input
neutral faces and the corresponding synthesized faces", brighter colours for larger deformation:

* fig. 6 (:func:`plot_intensity_maps`): three representative AUs (:data:`FIG6_AUS`: AU1, AU12,
  AU25, one per row) at the five intensities 1..5 (columns);
* fig. 7 (:func:`plot_au_maps`): the 12 DISFA AUs, each alone at intensity 5;
* fig. 8 (:func:`plot_combination_maps`): the combinations of :data:`FIG8_COMBINATIONS` (1+2,
  25+26, 1+2+12, 1+2+15, 1+25; every AU of a combination at intensity 5, the paper does not say).

:func:`label_grid` builds the (n, 12) label matrices (DISFA order, :data:`aujax.datasets.DISFA_AUS`)
the generator is asked for, in the order the figures read them.

Decisions (the paper shows pictures only):

* **The deformation** of vertex i is the Euclidean distance ``|p_i - p_i^neutral|`` between the
  synthesised mesh and the neutral one in the model frame (no alignment: a morphable model with a
  fixed identity moves no vertex rigidly), drawn on the synthesised mesh, so an opened mouth shows
  open. Units are the meshes' own (``unit``): centimetres for aujax's synthetic world (the model
  frame of DESIGN §2, the FaceWarehouse-like layout of :func:`aujax.synth.generate_facewarehouse`
  stores cm).
* **One colour scale per figure** (0 to the largest deformation of any panel, or ``vmax``), one
  colour bar labelled with the unit, the perceptually uniform ``viridis`` (bright = large, as in
  the paper).
* **Views**: frontal (the model frame's x-y plane seen from +z); ``profile=True`` adds the
  subject's right profile (seen from -x, the face toward the right) beside each frontal panel.
  Hidden surfaces are handled by back-face culling and the painter's order
  (:func:`view_triangles`): enough for a face mask, whose only self-occlusions (nose, lips) are
  convex from the viewpoints used.

The plotting functions select matplotlib's Agg backend themselves and return a :class:`MapFigure`
(grid, colour scale and the PNG's pixel size).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np

from ..._checks import check_triangles
from ...datasets import DISFA_AUS
from ...face import AU_NAMES


__all__ = [
    "FIG6_AUS",
    "FIG6_INTENSITIES",
    "FIG7_AUS",
    "FIG8_COMBINATIONS",
    "VIEWS",
    "MapFigure",
    "deformation",
    "label_grid",
    "plot_au_maps",
    "plot_combination_maps",
    "plot_intensity_maps",
    "view_triangles",
]

#: Fig. 6's three representative AUs (rows): inner brow raiser, lip corner puller, lips part.
FIG6_AUS: Final = (1, 12, 25)
#: Fig. 6's intensities (columns).
FIG6_INTENSITIES: Final = (1, 2, 3, 4, 5)
#: Fig. 7: the 12 DISFA AUs, each alone at intensity 5.
FIG7_AUS: Final = tuple(DISFA_AUS)
#: Fig. 8's AU combinations (happiness 1+2+12, sadness 1+2+15 and surprise 1+25 in the paper's words).
FIG8_COMBINATIONS: Final = ((1, 2), (25, 26), (1, 2, 12), (1, 2, 15), (1, 25))
#: The views a panel can show: ``"front"`` (from +z) and ``"profile"`` (the subject's right, from -x).
VIEWS: Final = ("front", "profile")

_DPI = 110
_PANEL_IN = (1.9, 2.3)  # width, height of one view's panel in inches
_CMAP = "viridis"


class MapFigure(NamedTuple):
    """What a deformation-map figure drew.

    Attributes:
        grid: (rows, columns) of mesh panels (a profile view counts as a column).
        vmax: the top of the shared colour scale (the meshes' unit).
        size: (height, width) of the PNG in pixels.
    """

    grid: tuple[int, int]
    vmax: float
    size: tuple[int, int]


def label_grid(
    entries: Sequence[int | Sequence[int]], *, intensities: Sequence[int] = (5,)
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Label matrices of figs. 6-8 (and of the vertex-error rows): each entry at each intensity.

    Row ``i * len(intensities) + j`` sets every AU of ``entries[i]`` to ``intensities[j]`` and the
    other AUs to 0, so the rows of fig. 6 reshape to ``(n_aus, n_intensities, 12)``:

    * fig. 6: ``label_grid(FIG6_AUS, intensities=FIG6_INTENSITIES)``;
    * fig. 7: ``label_grid(FIG7_AUS)``;
    * fig. 8: ``label_grid(FIG8_COMBINATIONS)``.

    Args:
        entries: AUs (``12``) or AU combinations (``(1, 2, 12)``), each AU one of
            :data:`aujax.datasets.DISFA_AUS`.
        intensities: intensities in 0..5.

    Returns:
        ``(labels, names)``: (n, 12) int8 intensities in DISFA_AUS order (DISFA's label dtype) and
        n names ``"AU1+2@5"`` (AUs joined by ``+``, ``@`` the intensity).

    Raises:
        ValueError: an empty ``entries`` or ``intensities``, an AU outside DISFA_AUS, a repeated AU
            within an entry, an intensity outside 0..5.
    """
    combos = [_combo(e) for e in entries]
    levels = [_level(k) for k in intensities]
    if not combos:
        raise ValueError("entries must name at least one AU or AU combination.")
    if not levels:
        raise ValueError("intensities must hold at least one intensity.")
    labels = np.zeros((len(combos) * len(levels), len(DISFA_AUS)), np.int8)
    names = []
    for i, combo in enumerate(combos):
        for j, level in enumerate(levels):
            labels[i * len(levels) + j, [DISFA_AUS.index(au) for au in combo]] = level
            names.append(f"{_combo_name(combo)}@{level}")
    return labels, tuple(names)


def _combo(entry) -> tuple[int, ...]:
    combo = (entry,) if isinstance(entry, int | np.integer) else tuple(entry)
    if not combo:
        raise ValueError("entries: an empty AU combination.")
    for au in combo:
        if isinstance(au, bool) or not isinstance(au, int | np.integer) or au not in DISFA_AUS:
            raise ValueError(f"entries: AU {au!r} is not one of DISFA_AUS {tuple(DISFA_AUS)}.")
    if len(set(combo)) != len(combo):
        raise ValueError(f"entries: AU combination {combo} repeats an AU.")
    return tuple(int(au) for au in combo)


def _level(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= 5:
        raise ValueError(f"intensities must be integers in 0..5, got {k!r}.")
    return int(k)


def _combo_name(combo: Sequence[int]) -> str:
    return "AU" + "+".join(str(au) for au in combo)


def deformation(neutral, meshes) -> np.ndarray:
    """Per-vertex deformation ``|p_i - p_i^neutral|`` of each mesh from the neutral (figs. 6-8).

    Args:
        neutral: (V, 3) the neutral mesh.
        meshes: (..., V, 3) synthesised meshes, the same vertex order.

    Returns:
        (..., V) float64 Euclidean distances, in the meshes' unit.
    """
    n = np.asarray(neutral, dtype=np.float64)
    m = np.asarray(meshes, dtype=np.float64)
    if n.ndim != 2 or n.shape[1] != 3 or n.shape[0] < 3:
        raise ValueError(f"neutral must have shape (V, 3) with V >= 3, got {n.shape}.")
    if m.ndim < 2 or m.shape[-2:] != n.shape:
        raise ValueError(
            f"meshes must have shape (..., V, 3) = (..., {n.shape[0]}, 3), got {m.shape}."
        )
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(m))):
        raise ValueError("neutral and meshes must be finite.")
    return np.linalg.norm(m - n, axis=-1)


def view_triangles(vertices, faces, *, view: str = "front") -> tuple[np.ndarray, np.ndarray]:
    """Screen coordinates and the visible triangles of a mesh, far to near (painter's order).

    ``"front"``: the camera on +z looking down -z, screen (x, y); ``"profile"``: on the subject's
    right (-x) looking toward +x, screen (z, y), the face toward the right. A triangle is visible
    when its normal ``(b - a) x (c - a)`` points toward the camera (the template's triangles turn
    counter-clockwise seen from outside the face); the visible ones are sorted by the mean depth
    of their corners, farthest first, so drawing them in order hides what lies behind.

    Args:
        vertices: (V, 3) positions, model frame (x toward the subject's left, y up, z out of the face).
        faces: (F, 3) integer vertex indices.
        view: one of :data:`VIEWS`.

    Returns:
        ``(xy, triangles)``: (V, 2) float64 screen coordinates and (F', 3) visible triangles.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {v.shape}.")
    f = check_triangles(faces, "faces", v.shape[0])
    if view == "front":
        xy, toward = v[:, :2], np.array([0.0, 0.0, 1.0])
    elif view == "profile":
        xy, toward = v[:, [2, 1]], np.array([-1.0, 0.0, 0.0])
    else:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}.")
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    facing = np.cross(b - a, c - a) @ toward
    depth = (v @ toward)[f].mean(axis=1)
    keep = np.flatnonzero(facing > 0.0)
    order = keep[np.argsort(depth[keep], kind="stable")]
    return xy, f[order]


def plot_intensity_maps(
    path: str | os.PathLike,
    *,
    neutral,
    meshes,
    faces,
    aus: Sequence[int] = FIG6_AUS,
    intensities: Sequence[int] = FIG6_INTENSITIES,
    unit: str = "cm",
    profile: bool = False,
    vmax: float | None = None,
    title: str = "",
) -> MapFigure:
    """Fig. 6: deformation maps of AUs (rows) at increasing intensities (columns).

    Args:
        path: the PNG to write.
        neutral: (V, 3) the input neutral mesh.
        meshes: (n_aus, n_intensities, V, 3) meshes synthesised for ``label_grid(aus,
            intensities=intensities)`` reshaped to (n_aus, n_intensities, 12).
        faces: (F, 3) triangles.
        aus: the AUs of the rows (the paper: :data:`FIG6_AUS`).
        intensities: the intensities of the columns.
        unit: the meshes' length unit, for the colour bar.
        profile: add the right profile view beside each frontal one.
        vmax: top of the colour scale (default: the largest deformation drawn).
        title: appended to the figure's title (e.g. the generator and subject).

    Returns:
        The :class:`MapFigure`.
    """
    aus, levels = [_combo(a)[0] for a in _one_each(aus, "aus")], [_level(k) for k in intensities]
    m = _meshes(meshes, "meshes", (len(aus), len(levels)))
    titles = [
        [f"AU{a} @{k}" + (f"\n{AU_NAMES[a]}" if j == 0 else "\n") for j, k in enumerate(levels)]
        for a in aus
    ]
    head = f"Fig. 6 analogue — AUs at increasing intensity{_sep(title)}"
    return _draw(path, neutral, m, faces, titles, head, unit, profile, vmax)


def plot_au_maps(
    path: str | os.PathLike,
    *,
    neutral,
    meshes,
    faces,
    aus: Sequence[int] = FIG7_AUS,
    intensity: int = 5,
    columns: int = 6,
    unit: str = "cm",
    profile: bool = False,
    vmax: float | None = None,
    title: str = "",
) -> MapFigure:
    """Fig. 7: one deformation map per AU, each alone at ``intensity``, ``columns`` per row.

    Args:
        path: the PNG to write.
        neutral: (V, 3) the input neutral mesh.
        meshes: (n_aus, V, 3) meshes synthesised for ``label_grid(aus, intensities=(intensity,))``.
        faces: (F, 3) triangles.
        aus: the AUs (the paper: all 12 of :data:`FIG7_AUS`).
        intensity: the AUs' intensity (titles only).
        columns: AU panels per row (>= 1).
        unit, profile, vmax, title: as :func:`plot_intensity_maps`.

    Returns:
        The :class:`MapFigure`.
    """
    aus = [_combo(a)[0] for a in _one_each(aus, "aus")]
    level = _level(intensity)
    names = [f"AU{a} @{level}\n{AU_NAMES[a]}" for a in aus]
    head = f"Fig. 7 analogue — single AUs{_sep(title)}"
    return _draw_list(path, neutral, meshes, faces, names, columns, head, unit, profile, vmax)


def plot_combination_maps(
    path: str | os.PathLike,
    *,
    neutral,
    meshes,
    faces,
    names: Sequence[str],
    columns: int = 5,
    unit: str = "cm",
    profile: bool = False,
    vmax: float | None = None,
    title: str = "",
) -> MapFigure:
    """Fig. 8: one deformation map per AU combination.

    Args:
        path: the PNG to write.
        neutral: (V, 3) the input neutral mesh.
        meshes: (n, V, 3) meshes synthesised for the combinations (e.g.
            ``label_grid(FIG8_COMBINATIONS)``).
        faces: (F, 3) triangles.
        names: the n panel titles (e.g. the names :func:`label_grid` returns).
        columns: panels per row (>= 1).
        unit, profile, vmax, title: as :func:`plot_intensity_maps`.

    Returns:
        The :class:`MapFigure`.
    """
    names = [str(n) for n in _one_each(names, "names")]
    head = f"Fig. 8 analogue — AU combinations{_sep(title)}"
    return _draw_list(path, neutral, meshes, faces, names, columns, head, unit, profile, vmax)


def _sep(title: str) -> str:
    return f"\n{title}" if title else ""


def _one_each(items, name: str) -> list:
    items = list(items)
    if not items:
        raise ValueError(f"{name} must not be empty.")
    return items


def _meshes(meshes, name: str, lead: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(meshes, dtype=np.float64)
    if m.ndim != len(lead) + 2 or m.shape[: len(lead)] != lead or m.shape[-1] != 3:
        want = ", ".join(map(str, lead))
        raise ValueError(f"{name} must have shape ({want}, V, 3), got {m.shape}.")
    return m


def _draw_list(path, neutral, meshes, faces, names, columns, head, unit, profile, vmax):
    """A list of panels on a grid of ``columns`` per row (the last row may be short)."""
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be an int >= 1, got {columns!r}.")
    m = _meshes(meshes, "meshes", (len(names),))
    n_cols = min(columns, len(names))
    n_rows = -(-len(names) // n_cols)
    grid = np.zeros((n_rows, n_cols) + m.shape[1:])
    grid.reshape((-1,) + m.shape[1:])[: len(names)] = m
    empty = np.arange(n_rows * n_cols).reshape(n_rows, n_cols) >= len(names)
    grid[empty] = m[0]  # drawn nowhere; any valid mesh keeps the checks simple
    titles = [[""] * n_cols for _ in range(n_rows)]
    for k, nm in enumerate(names):
        titles[k // n_cols][k % n_cols] = nm
    return _draw(path, neutral, grid, faces, titles, head, unit, profile, vmax, empty=empty)


def _draw(path, neutral, meshes, faces, titles, head, unit, profile, vmax, empty=None) -> MapFigure:
    """The shared grid of deformation maps (R, C, V, 3); the cells ``empty`` (R, C) stay blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    n_rows, n_cols = meshes.shape[:2]
    empty = np.zeros((n_rows, n_cols), bool) if empty is None else empty
    neutral = np.asarray(neutral, dtype=np.float64)
    if neutral.ndim != 2 or neutral.shape != meshes.shape[2:]:
        raise ValueError(
            f"neutral must have shape (V, 3) = {meshes.shape[2:]}, got {neutral.shape}."
        )
    faces = check_triangles(faces, "faces", neutral.shape[0])
    values = deformation(neutral, meshes)
    if vmax is None:
        top = float(values[~empty].max(initial=0.0))
        vmax = top if top > 0.0 else 1.0
    elif not (np.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax must be finite and > 0, got {vmax!r}.")
    views = VIEWS if profile else VIEWS[:1]
    cols = n_cols * len(views)
    fig, axes = plt.subplots(
        n_rows, cols, figsize=(_PANEL_IN[0] * cols + 1.2, _PANEL_IN[1] * n_rows + 0.7),
        dpi=_DPI, squeeze=False, layout="constrained",
    )  # fmt: skip
    norm = Normalize(0.0, float(vmax))
    for i in range(n_rows):
        for j in range(n_cols):
            for k, view in enumerate(views):
                ax = axes[i, j * len(views) + k]
                ax.set_xticks([]), ax.set_yticks([])
                for side in ax.spines.values():
                    side.set_visible(False)
                if empty[i, j]:
                    continue
                xy, tris = view_triangles(meshes[i, j], faces, view=view)
                if len(tris):
                    ax.tripcolor(xy[:, 0], xy[:, 1], tris, values[i, j], shading="gouraud",
                                 cmap=_CMAP, norm=norm)  # fmt: skip
                ax.set_aspect("equal")
                if k == 0 and titles[i][j]:
                    ax.set_title(titles[i][j], fontsize=8)
                elif k == 1:
                    ax.set_title("(profile)", fontsize=7)
    fig.colorbar(ScalarMappable(norm, _CMAP), ax=axes, shrink=0.8 if n_rows > 1 else 1.0,
                 label=f"deformation ({unit})")  # fmt: skip
    fig.suptitle(head, fontsize=10)
    w, h = fig.canvas.get_width_height()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return MapFigure((int(n_rows), int(cols)), float(vmax), (h, w))
