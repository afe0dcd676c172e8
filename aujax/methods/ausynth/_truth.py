r"""Beyond seed 002: the synthetic world's own mesh for AU labels, and the vertex error of a
generator against it.

The paper can only look at its synthesised faces (figs. 6-8). The synthetic DISFA-like world
knows what an AU combination does on each subject: its physics. :func:`physics_meshes` returns
that mesh for given labels; :func:`vertex_errors` and :func:`vertex_error_table` compare a
generator's meshes (the morphable model driven by generated expression parameters) with it, per
AU and per combination.

**What** :func:`physics_meshes` **reproduces of the DISFA-like generator**
(:func:`aujax.synth.generate_disfa`, ``_DISFAStages.simulate``):

* the template and its AU blendshape model at ``(n_vertices, seed)``
  (:func:`aujax.synth.template_model`, float64; ``n_vertices`` by default the preset size's
  :data:`aujax.synth.DEFAULT_N_VERTICES`);
* the subject's body from the generator's streams (:meth:`aujax.synth.Cast.physique`, dataset
  ``"disfa"``, the preset's frame rate and :class:`~aujax.synth.MuscleRealism`): identity, muscle
  gains, the subject's own AU -> muscle synergies, its rest mesh and skin;
* the excitation of :func:`aujax.synth.realistic_excitation` (the subject's synergies and gains,
  co-contraction) of the labels taken as intensities: the 12 DISFA AUs in ``AU_IDS`` order, the
  five model AUs DISFA does not code (7, 10, 14, 23, 24) at 0;
* the **static equilibrium** of the full, geometrically nonlinear spring-mass skin under those
  activations (:func:`aujax.synth.static_equilibria`, the solver of the FaceWarehouse-like
  expressions, to a relative force residual ``rtol``).

**What it leaves out, on purpose**: the sequence (episodes, coders' labels: a label is taken as
the true intensity), the per-event asymmetry draws (both sides at the labelled intensity: the
canonical symmetric action), the excitation noise (mean-preserving, so the noise-free drive is its
mean), the activation dynamics and delay (a held excitation's activation converges to it) and the
full dynamics (a held activation's motion converges to this equilibrium; the generator's frames
are in motion, not at rest), the head pose, camera and landmark noise. So it is the mesh the
generator's subject settles to when it holds the labelled expression.

**The vertex error** (:func:`vertex_errors`). A generator is handed a neutral face whose identity
was *fitted* (landmark extraction, §4.2), so its neutral mesh differs from the subject's true rest
mesh: comparing absolute positions would charge the generator with the identity fit's error. The
error compares the **expression displacements** instead, each from its own neutral:
``dg = generated - generated_neutral`` and ``dt = truth - truth_neutral``, after a least-squares
**similarity** alignment (Umeyama; optionally rigid or none) of the generated neutral onto the
true one, applied to both generated meshes (so ``dg`` is rotated and scaled into the truth's
frame; the translation cancels). Reported per row: the mean per-vertex Euclidean distance
``mean_i |dg_i - dt_i|`` (the meshes' unit, cm) and the relative error ``|dg - dt|_F / |dt|_F``
over the vertices of ``region`` (NaN where the truth does not move, e.g. all-zero labels). Both
layouts must be the same: the FaceWarehouse-like meshes that build
:class:`aujax.face.MorphableModel` (:func:`aujax.synth.generate_facewarehouse`) and the DISFA-like
subjects come from the same template (:func:`aujax.synth.template_model`, whose geometry and
topology depend on ``n_vertices`` only, the seed driving the identity basis), so at the same
``n_vertices`` vertex i is the same point of the face in both (docs/ausynth_method.md records
the check); different ``n_vertices`` give different meshes and are refused.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple

import jax
import numpy as np

from ...datasets import DISFA_AUS
from ...face import AU_IDS
from ...synth import (
    DEFAULT_N_VERTICES,
    Cast,
    MuscleRealism,
    SubjectPhysique,
    get_preset,
    realistic_excitation,
    static_equilibria,
    template_model,
)
from ...train import align_prediction
from ._figures import FIG7_AUS, FIG8_COMBINATIONS, label_grid


__all__ = [
    "ERROR_ALIGNMENTS",
    "PhysicsSubject",
    "VertexErrorTable",
    "VertexErrors",
    "error_label_rows",
    "physics_activations",
    "physics_meshes",
    "physics_subject",
    "projected_meshes",
    "vertex_error_table",
    "vertex_errors",
]

#: Alignments of the generated neutral onto the true one before the displacements are compared.
ERROR_ALIGNMENTS: Final = ("none", "rigid", "similarity")

# the 12 DISFA columns inside the model's 17 AUs
_COLUMNS: Final = np.asarray([AU_IDS.index(au) for au in DISFA_AUS])


@dataclasses.dataclass(frozen=True)
class PhysicsSubject:
    """A DISFA-like synthetic subject as the generator builds it.

    Attributes:
        subject: the subject ID (``"SN001"``, ...).
        seed: the generator's seed.
        size: the preset size.
        faces: (F, 3) int64 triangles of the template (shared by every subject and by the
            FaceWarehouse-like meshes at the same ``n_vertices``).
        rest: (V, 3) float64 rest (neutral) mesh, cm, model frame.
        body: the :class:`aujax.synth.SubjectPhysique` (identity, gains, synergies, rig).
        realism: the muscle realism the subject is driven with.
    """

    subject: str
    seed: int
    size: str
    faces: np.ndarray
    rest: np.ndarray
    body: SubjectPhysique
    realism: MuscleRealism

    @property
    def n_vertices(self) -> int:
        """V, the mesh's vertex count."""
        return int(self.rest.shape[0])


def physics_subject(
    subject: str,
    *,
    seed: int = 0,
    size: str = "small",
    n_vertices: int | None = None,
    realism: MuscleRealism | None = None,
) -> PhysicsSubject:
    """The DISFA-like generator's subject ``subject`` (cached: the last few are kept).

    Args:
        subject: a subject of the ``disfa`` preset of ``size`` (``"SN001"``, ...).
        seed: the generator's seed (:func:`aujax.synth.generate_disfa`'s ``seed``).
        size: the preset size (``"tiny"``, ``"small"``, ``"full"``).
        n_vertices: the generator's ``n_vertices`` (default: the size's
            :data:`aujax.synth.DEFAULT_N_VERTICES`).
        realism: the generator's ``realism`` (default: the preset's).

    Returns:
        The :class:`PhysicsSubject`.

    Raises:
        ValueError: an unknown size or subject, a bad seed, ``n_vertices`` or ``realism``.
    """
    preset = get_preset("disfa", size)
    if subject not in preset.subjects:
        raise ValueError(f"subject: {subject!r} is not in the disfa/{size} preset.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}.")
    n = DEFAULT_N_VERTICES[size] if n_vertices is None else n_vertices
    if isinstance(n, bool) or not isinstance(n, int) or not 400 <= n <= 120000:
        raise ValueError(f"n_vertices must be an int in [400, 120000], got {n_vertices!r}.")
    realism = preset.realism if realism is None else realism
    if not isinstance(realism, MuscleRealism):
        raise ValueError(f"realism must be a MuscleRealism, got {realism!r}.")
    return _physics_subject(subject, seed, size, n, realism)


@functools.lru_cache(maxsize=8)
def _physics_subject(subject, seed, size, n_vertices, realism) -> PhysicsSubject:
    preset = get_preset("disfa", size)
    face, model = template_model(n_vertices, seed)
    with jax.enable_x64(True):  # the physics in float64, as the generator runs it
        body = Cast("disfa", seed, preset.fps, face, model, realism).physique(subject)
    faces = np.asarray(face.triangles, dtype=np.int64)
    return PhysicsSubject(subject, seed, size, faces, np.asarray(body.rig.rest), body, realism)


def _labels(labels, name: str = "labels") -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 2 or y.shape[1] != len(DISFA_AUS):
        raise ValueError(
            f"{name} must have shape (n, {len(DISFA_AUS)}) (DISFA_AUS order), got {y.shape}."
        )
    if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real AU intensities, got dtype {y.dtype}.")
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y) & (y >= 0.0) & (y <= 5.0)):
        raise ValueError(f"{name} must be AU intensities in [0, 5].")
    return y


def physics_activations(labels, subject: PhysicsSubject) -> np.ndarray:
    """(n, M) muscle activations the subject holds for DISFA labels (the noise-free drive).

    ``realistic_excitation`` of the labels as intensities (the other 5 model AUs at 0), both
    sides at full scale, with the subject's synergies, gains and the realism's co-contraction;
    the steady state of the activation dynamics, i.e. the excitation itself.

    Args:
        labels: (n, 12) AU intensities 0..5 in DISFA_AUS order.
        subject: the :class:`PhysicsSubject`.
    """
    y = _labels(labels)
    x = np.zeros((y.shape[0], len(AU_IDS)))
    x[:, _COLUMNS] = y
    body = subject.body  # Cast.physique always draws the synergies (the template's when off)
    sides = np.ones(x.shape + (2,))
    return realistic_excitation(x, body.synergy, sides, realism=subject.realism, gains=body.gains)


def physics_meshes(
    labels,
    *,
    subject: str,
    seed: int = 0,
    size: str = "small",
    n_vertices: int | None = None,
    realism: MuscleRealism | None = None,
    rtol: float = 1e-8,
) -> np.ndarray:
    """The physics' own mesh of a DISFA-like subject holding each row of AU labels.

    The generator's chain (module docstring: subject, synergies, gains and co-contraction kept;
    asymmetry draws, noise, activation and full dynamics left out) up to the static equilibrium
    of the full nonlinear skin. All-zero rows give the subject's rest mesh exactly.

    Args:
        labels: (n, 12) AU intensities 0..5 in DISFA_AUS order (e.g. :func:`label_grid`'s).
        subject: the subject ID (:func:`physics_subject`).
        seed, size, n_vertices, realism: the generator's (:func:`physics_subject`).
        rtol: relative force residual of each equilibrium.

    Returns:
        (n, V, 3) float64 vertex positions, cm, model frame (the subject's rest mesh plus the
        equilibrium displacement).

    Raises:
        ValueError: bad labels (shape, range) or subject settings.
    """
    body = physics_subject(subject, seed=seed, size=size, n_vertices=n_vertices, realism=realism)
    acts = physics_activations(labels, body)
    out = np.repeat(body.rest[None], acts.shape[0], axis=0)
    moving = np.flatnonzero(np.any(acts > 0.0, axis=1))
    if moving.size:
        sol = static_equilibria(body.body.rig, acts[moving], rtol=rtol)
        out[moving] += sol.displacements
    return out


def error_label_rows(
    *,
    aus: Sequence[int] = FIG7_AUS,
    intensities: Sequence[int] = (5,),
    combinations: Sequence[Sequence[int]] = FIG8_COMBINATIONS,
    combination_intensity: int = 5,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The label rows of the vertex-error table: each AU alone, then each combination.

    Args:
        aus: the single AUs (default the 12 DISFA AUs).
        intensities: their intensities (``(5,)``, or ``(1, 2, 3, 4, 5)`` for all five).
        combinations: the AU combinations (default fig. 8's); empty for none.
        combination_intensity: the intensity of every AU of a combination.

    Returns:
        ``(labels, names)`` as :func:`label_grid`: (n, 12) int8 and n names.
    """
    labels, names = label_grid(aus, intensities=intensities)
    if len(combinations):
        more, more_names = label_grid(combinations, intensities=(combination_intensity,))
        labels, names = np.concatenate([labels, more]), names + more_names
    return labels, names


class VertexErrors(NamedTuple):
    """Per-row errors of generated expression displacements against the physics' (:func:`vertex_errors`).

    Attributes:
        mean: (n,) mean per-vertex distance ``mean_i |dg_i - dt_i|`` (the meshes' unit).
        relative: (n,) ``|dg - dt|_F / |dt|_F`` (NaN where ``dt`` is 0).
        truth: (n,) mean per-vertex true displacement ``mean_i |dt_i|`` (the scale of the motion).
        generated: (n,) mean per-vertex generated displacement ``mean_i |dg_i|`` (after alignment).
    """

    mean: np.ndarray
    relative: np.ndarray
    truth: np.ndarray
    generated: np.ndarray


def _stack(x, name: str, n: int, v: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.shape == (v, 3):
        a = np.broadcast_to(a, (n, v, 3))
    if a.shape != (n, v, 3):
        raise ValueError(
            f"{name} must have shape (V, 3) or (n, V, 3) = ({n}, {v}, 3), got {a.shape} (the "
            "generated and physics meshes must share one vertex layout: the same n_vertices)."
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite.")
    return a


def _vertex_set(region, v: int, name: str) -> np.ndarray:
    if region is None:
        return np.arange(v)
    r = np.asarray(region)
    if r.dtype == bool:
        if r.shape != (v,):
            raise ValueError(f"{name}: a boolean mask must have shape ({v},), got {r.shape}.")
        r = np.flatnonzero(r)
    elif not np.issubdtype(r.dtype, np.integer) or r.ndim != 1:
        raise ValueError(f"{name} must be None, a boolean (V,) mask or 1-d vertex indices.")
    if r.size == 0 or r.min() < 0 or r.max() >= v:
        raise ValueError(f"{name} must select at least one vertex in [0, {v}).")
    return r


def vertex_errors(
    generated,
    truth,
    *,
    generated_neutral,
    truth_neutral,
    align: str = "similarity",
    align_region=None,
    region=None,
) -> VertexErrors:
    """Error of generated expression displacements against the physics' (module docstring).

    ``dg = A(generated) - A(generated_neutral)`` with ``A`` the least-squares alignment of
    ``generated_neutral`` onto ``truth_neutral`` over ``align_region`` (:data:`ERROR_ALIGNMENTS`:
    none, rigid = Kabsch, similarity = Umeyama; per row), ``dt = truth - truth_neutral``; over
    the vertices of ``region``: mean per-vertex distance ``mean_i |dg_i - dt_i|`` and relative
    error ``|dg - dt|_F / |dt|_F``.

    Args:
        generated: (n, V, 3) generated meshes.
        truth: (n, V, 3) the physics' meshes for the same labels and subject.
        generated_neutral: (V, 3) or (n, V, 3) the generator's neutral (its input face).
        truth_neutral: (V, 3) or (n, V, 3) the subject's rest mesh.
        align: one of :data:`ERROR_ALIGNMENTS`.
        align_region: vertices the alignment is estimated on (None: all; a boolean (V,) mask or
            indices, >= 3 non-collinear vertices).
        region: vertices the errors are taken over (None: all).

    Returns:
        :class:`VertexErrors`, each (n,) float64.

    Raises:
        ValueError: shapes (different vertex layouts), non-finite values, unknown ``align``,
            bad regions.
    """
    t = np.asarray(truth, dtype=np.float64)
    if t.ndim != 3 or t.shape[-1] != 3 or t.shape[1] < 3:
        raise ValueError(f"truth must have shape (n, V, 3) with V >= 3, got {t.shape}.")
    n, v = t.shape[:2]
    g = _stack(generated, "generated", n, v)
    t = _stack(t, "truth", n, v)
    gn = _stack(generated_neutral, "generated_neutral", n, v)
    tn = _stack(truth_neutral, "truth_neutral", n, v)
    if align not in ERROR_ALIGNMENTS:
        raise ValueError(f"align must be one of {ERROR_ALIGNMENTS}, got {align!r}.")
    fit = _vertex_set(align_region, v, "align_region")
    keep = _vertex_set(region, v, "region")
    # one alignment per row, estimated on the neutrals and applied to both generated meshes
    aligned = align_prediction(
        np.concatenate([gn, g], axis=1), np.concatenate([tn, tn], axis=1), align=align,
        region=fit,
    )  # fmt: skip
    dg = (aligned[:, v:] - aligned[:, :v])[:, keep]
    dt = (t - tn)[:, keep]
    diff = np.linalg.norm(dg - dt, axis=-1)
    size = np.sqrt(np.sum(dt * dt, axis=(1, 2)))
    rel = np.full(n, np.nan)
    moved = size > 0.0
    rel[moved] = np.sqrt(np.sum(diff[moved] ** 2, axis=1)) / size[moved]
    return VertexErrors(
        diff.mean(axis=1), rel, np.linalg.norm(dt, axis=-1).mean(axis=1),
        np.linalg.norm(dg, axis=-1).mean(axis=1),
    )  # fmt: skip


def projected_meshes(truth, *, truth_neutral, exp_basis) -> np.ndarray:
    """The physics' meshes with their displacement projected onto a model's expression space.

    ``truth_neutral + B B^+ (truth - truth_neutral)`` with ``B`` the expression basis (columns over
    the flattened ``V * 3`` entries, :attr:`aujax.face.MorphableModel.exp_basis`; ``B^+`` its
    pseudo-inverse, ``B^T`` when the columns are orthonormal):
    the closest any generator of expression parameters can come to the physics on this subject
    (least squares, no range bounds), so its :func:`vertex_errors` are the floor the 3DMM itself
    sets (an extra row of :func:`vertex_error_table`, not a generator).

    Args:
        truth: (n, V, 3) the physics' meshes.
        truth_neutral: (V, 3) or (n, V, 3) the subject's rest mesh.
        exp_basis: (V, 3, K) the expression basis.

    Returns:
        (n, V, 3) float64 meshes.
    """
    t = np.asarray(truth, dtype=np.float64)
    if t.ndim != 3 or t.shape[-1] != 3:
        raise ValueError(f"truth must have shape (n, V, 3), got {t.shape}.")
    n, v = t.shape[:2]
    tn = _stack(truth_neutral, "truth_neutral", n, v)
    b = np.asarray(exp_basis, dtype=np.float64)
    if b.ndim != 3 or b.shape[:2] != (v, 3):
        raise ValueError(
            f"exp_basis must have shape (V, 3, K) = ({v}, 3, K), got {b.shape} (the model and the "
            "physics must share one vertex layout: the same n_vertices)."
        )
    flat = b.reshape(v * 3, -1)
    d = (t - tn).reshape(n, v * 3)
    coef = np.linalg.lstsq(flat, d.T, rcond=None)[0]  # any full-rank basis, orthonormal or not
    return tn + (flat @ coef).T.reshape(n, v, 3)


class VertexErrorTable(NamedTuple):
    """Vertex errors of several generators, grouped by row name (:func:`vertex_error_table`).

    Attributes:
        rows: the R group names in first-appearance order (e.g. ``"AU12@5"``, ``"AU1+2@5"``).
        generators: the G generator names.
        count: (R,) label rows per group (subjects x draws).
        truth: (R,) mean true displacement per vertex of each group (the meshes' unit).
        mean: (G, R) mean per-vertex distance, averaged over the group's rows.
        relative: (G, R) relative error, averaged over the group's rows (NaN rows skipped).
        text: the table in Markdown, a last row averaging the groups.
    """

    rows: tuple[str, ...]
    generators: tuple[str, ...]
    count: np.ndarray
    truth: np.ndarray
    mean: np.ndarray
    relative: np.ndarray
    text: str


def vertex_error_table(
    generated: Mapping[str, object],
    truth,
    *,
    names: Sequence[str],
    generated_neutral,
    truth_neutral,
    align: str = "similarity",
    align_region=None,
    region=None,
    unit: str = "cm",
    title: str = "Vertex error against the physics",
) -> VertexErrorTable:
    """Per-AU and per-combination vertex errors of several generators (beyond the paper).

    Rows sharing a name (the same labels on several subjects or noise draws) are averaged.

    Args:
        generated: generator name -> (n, V, 3) meshes (e.g. ``{"CGAN": ..., "CAAE": ...}``).
        truth: (n, V, 3) the physics' meshes (:func:`physics_meshes`) of the same rows.
        names: n row names (e.g. :func:`error_label_rows`'s, repeated per subject).
        generated_neutral: (V, 3) or (n, V, 3), or a mapping generator name -> either.
        truth_neutral: (V, 3) or (n, V, 3) the subjects' rest meshes.
        align, align_region, region: as :func:`vertex_errors`.
        unit: the meshes' length unit, for the text.
        title: the table's heading.

    Returns:
        The :class:`VertexErrorTable`.

    Raises:
        ValueError: no generator, ``names`` not of length n, a neutral mapping missing a
            generator, and what :func:`vertex_errors` raises.
    """
    if not generated:
        raise ValueError("generated must name at least one generator.")
    t = np.asarray(truth, dtype=np.float64)
    names = [str(s) for s in names]
    if t.ndim < 1 or len(names) != t.shape[0]:
        raise ValueError(
            f"names must hold one name per row of truth ({t.shape[:1]}), got {len(names)}."
        )
    rows = tuple(dict.fromkeys(names))
    group = np.array([rows.index(s) for s in names])
    gens = tuple(generated)
    mean, rel = np.zeros((len(gens), len(rows))), np.zeros((len(gens), len(rows)))
    truth_size = np.zeros(len(rows))
    for k, gname in enumerate(gens):
        neutral = generated_neutral
        if isinstance(generated_neutral, Mapping):
            if gname not in generated_neutral:
                raise ValueError(f"generated_neutral has no entry for generator {gname!r}.")
            neutral = generated_neutral[gname]
        err = vertex_errors(generated[gname], t, generated_neutral=neutral,
                            truth_neutral=truth_neutral, align=align, align_region=align_region,
                            region=region)  # fmt: skip
        for r in range(len(rows)):
            sel = group == r
            mean[k, r] = err.mean[sel].mean()
            vals = err.relative[sel][np.isfinite(err.relative[sel])]
            rel[k, r] = vals.mean() if vals.size else np.nan
            truth_size[r] = err.truth[sel].mean()
    count = np.bincount(group, minlength=len(rows))
    text = _table_text(title, rows, gens, count, truth_size, mean, rel, unit, align)
    return VertexErrorTable(rows, gens, count, truth_size, mean, rel, text)


def _table_text(title, rows, gens, count, truth, mean, rel, unit, align) -> str:
    def cell(m, r):
        return f"{m:.3f} ({r:.2f})" if np.isfinite(r) else f"{m:.3f} (-)"

    lines = [
        f"### {title}",
        "",
        "| labels | rows | true displacement | " + " | ".join(gens) + " |",
        "|---|---|---|" + "---|" * len(gens),
    ]
    for r, name in enumerate(rows):
        cells = " | ".join(cell(mean[k, r], rel[k, r]) for k in range(len(gens)))
        lines.append(f"| {name} | {count[r]} | {truth[r]:.3f} | {cells} |")
    with np.errstate(invalid="ignore"):
        avg = [
            cell(mean[k].mean(), np.nanmean(rel[k]) if np.any(np.isfinite(rel[k])) else np.nan)
            for k in range(len(gens))
        ]
    lines.append(
        f"| mean of rows | {int(count.sum())} | {truth.mean():.3f} | " + " | ".join(avg) + " |"
    )
    lines.append("")
    lines.append(
        f"Mean per-vertex distance ({unit}) between the generated and the physics' expression "
        "displacements, each from its own neutral, the generated neutral aligned onto the true "
        f"one ({align}); in parentheses |dg - dt| / |dt|. True displacement: mean per-vertex "
        f"|dt| ({unit}). The physics' mesh: the subject's static equilibrium for the labels."
    )
    return "\n".join(lines)
