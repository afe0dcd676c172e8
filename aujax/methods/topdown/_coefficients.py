"""Blendshape coefficients of every frame of a :class:`aujax.datasets.FrameTable` from its 2D
landmarks, by the top-down engine (seed 000, eqs. 2-4; also seed 001's "3D reconstruction" step),
and the cached, prepared table every experiment trains from.
"""

import hashlib
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from ...datasets import (
    FrameTable,
    load_bp4d_table,
    load_disfa_table,
    nominal_intrinsics,
    synthetic_intrinsics,
    table_fingerprint,
)
from ...face import BlendshapeModel, make_face
from ...geometry import Camera
from ...physics import CoefficientSmoother, ReducedModel, build_au_blendshapes, reduce_template
from ...synth import TEMPLATE_TAG, dataset_root
from ._engine import ENGINE_VERSION, TopDownEngine
from ._tracking import estimate_neutral, fit_frames


__all__ = [
    "prepared_table",
    "reconstruct_coefficients",
    "smooth_table",
    "table_smoother",
    "template_blendshapes",
    "template_dynamics",
]

# frame rates of the real datasets (BP4D: 25 fps; DISFA: 20 fps); the synthetic copies are 25 fps
_FPS = {"bp4d": 25.0, "disfa": 20.0}
# the CoefficientSmoother fields a config's data.smoother section may set
_SMOOTHER_OPTIONS = (
    "robust_iterations",
    "robust_threshold",
    "fit_sequences",
    "fit_window",
    "drive_orders",
    "activation_sds",
    "activation_times",
    "noise_scales",
)


def reconstruct_coefficients(
    table: FrameTable,
    blendshapes: BlendshapeModel,
    *,
    intrinsics: np.ndarray,
    iterations: int = 6,
    nnls_iterations: int = 200,
    nnls_method: str = "active_set",
    neutral_frames: int = 48,
    neutral_fraction: float = 0.2,
    chunk: int = 256,
    smoother: CoefficientSmoother | None = None,
    smoother_subjects=None,
    progress=None,
) -> FrameTable:
    """Blendshape coefficients c(t) of every frame from its 2D landmarks (seed 000, eqs. 2-4).

    The top-down engine of the template ``blendshapes`` runs in float64 with a perspective camera,
    per subject in two steps (:mod:`aujax.methods.topdown._tracking`, shared with
    :func:`aujax.methods.topdown.track_sequence`):

    1. the subject's identity (:func:`estimate_neutral`): ``neutral_frames`` valid frames spread
       evenly over the subject's sequences are fitted with the identity free; the median identity
       of the least expressive ``neutral_fraction`` of them (lowest sum of levels) defines the
       subject's neutral reference (no frame is known to be neutral). On the 13 test subjects of
       fold 1 of the small BP4D-like set (10,339 frames; the engine of this change) the mean
       absolute error against the true intensities was 0.756 with the least expressive 20 %
       against 0.774 with the median over all 48 frames;
    2. every frame of the subject is fitted against that neutral (:func:`fit_frames`), so that the
       identity is shared over time and the coefficients carry the expression only.

    Then, with a ``smoother``, each sequence's coefficients are smoothed (:func:`smooth_table`).

    Frames without landmarks get ``c_mask = False`` and ``c = 0`` (with a smoother: the value the
    dynamics bridge the gap with; ``c_mask`` stays False, no observation). The engine's
    Gauss-Newton sweeps are reduced from the library default 20 to ``iterations``: with the
    projected-gradient NNLS (cap 2000 -> 200) the mean absolute error against the generator's
    intensities on the tiny synthetic set changed from 1.16 to 1.30 (0-5 scale) at ~15x less time.
    Each sweep's NNLS is solved exactly (``nnls_method="active_set"``, block principal pivoting
    per frame): on the first 3 subjects of the small BP4D-like set (2,400 frames, 6 sweeps) the
    error against the true intensities was 0.87 against 0.98 with ``"apg"`` (cap 200), the
    landmark residual the same (1.17 px), at ~2.4x less time per subject (1.4 s against 3.4 s for
    800 frames, 2-core CPU, shared). Gauss-Newton leaves the levels of AUs that 2D landmarks
    barely see poorly determined: the two solvers' levels differed by up to ~12 on single frames
    at equal residuals.

    Args:
        table: the frames (its ``landmarks`` and ``landmark_mask``).
        blendshapes: the template blendshape model (float64).
        intrinsics: (3, 3) camera intrinsics of the landmarks' pixels.
        iterations, nnls_iterations, nnls_method: engine settings (see above and
            :class:`aujax.methods.topdown.TopDownEngine`).
        neutral_frames: frames per subject used for its identity.
        neutral_fraction: the least expressive fraction of them whose median identity is kept.
        chunk: frames per engine call (one compiled shape; the last chunk is padded).
        smoother: optional :class:`aujax.physics.CoefficientSmoother` (:func:`table_smoother`).
        smoother_subjects: subjects whose sequences fit the smoother's noise and settings (no
            labels are used; default: all).
        progress: optional callable ``progress(done, total)`` called per subject.

    Returns:
        ``table`` with ``c`` and ``c_mask`` set.
    """
    with jax.enable_x64(True):
        engine = TopDownEngine.from_model(
            blendshapes, iterations=iterations, nnls_iterations=nnls_iterations,
            nnls_method=nnls_method,
        )  # fmt: skip
        cam = Camera.create(jnp.asarray(intrinsics, jnp.float64))
        n, k = len(table), engine.n_aus
        c = np.zeros((n, k), np.float32)
        ok_all = np.zeros(n, bool)
        subjects = list(dict.fromkeys(table.subject.tolist()))
        for i, subject in enumerate(subjects):
            rows = table.rows([subject])
            lm = table.landmarks[rows].astype(np.float64)
            valid = table.landmark_mask[rows] & np.all(np.isfinite(lm), axis=(1, 2))
            neutral = estimate_neutral(engine, lm, camera=cam, valid=valid, frames=neutral_frames,
                                       fraction=neutral_fraction)  # fmt: skip
            if neutral is not None:
                fit = fit_frames(engine, lm, camera=cam, valid=valid, neutral=neutral, chunk=chunk)
                ok = np.asarray(fit.valid)
                c[rows] = np.where(ok[:, None], np.asarray(fit.levels), 0.0)
                ok_all[rows] = ok
            if progress is not None:
                progress(i + 1, len(subjects))
    table.c, table.c_mask = c, ok_all
    if smoother is not None:
        smooth_table(table, smoother, subjects=smoother_subjects)
    return table


def _sequence_grid(table: FrameTable):
    """Each sequence's rows on its frame grid: ``(rows, slots)`` with ``slots = frame - first``
    (missing frame numbers become empty slots), and the longest grid."""
    out, longest = [], 1
    for _, _, rows in table.sequences():
        slots = table.frame[rows] - table.frame[rows].min()
        out.append((rows, slots))
        longest = max(longest, int(slots.max()) + 1)
    return out, longest


def smooth_table(
    table: FrameTable, smoother: CoefficientSmoother, *, subjects=None
) -> tuple[FrameTable, CoefficientSmoother]:
    """Smooths every sequence's coefficients (``table.c``) in place, never across sequences.

    A sequence is one subject's one task (:meth:`FrameTable.sequences`), laid on its frame grid:
    frames without a valid reconstruction and missing frame numbers are skipped by the filter and
    bridged by the dynamics; shorter sequences are padded with empty frames (which change
    nothing before them). The smoother's noise and settings, if not set, are fitted without labels
    on the sequences of ``subjects`` (:meth:`CoefficientSmoother.fit`).

    Args:
        table: a table with ``c`` and ``c_mask`` (:func:`reconstruct_coefficients`).
        smoother: the smoother (:func:`table_smoother`).
        subjects: the subjects whose sequences fit the smoother (default: all).

    Returns:
        ``(table, fitted)``: the table (``c`` smoothed on every frame of a sequence with at least
        one valid frame; ``c_mask`` unchanged) and the fitted smoother.
    """
    if table.c is None or table.c_mask is None:
        raise ValueError("table: no coefficients; run reconstruct_coefficients first.")
    grid, t = _sequence_grid(table)
    k = table.c.shape[1]
    y = np.zeros((len(grid), t, k))
    ok = np.zeros((len(grid), t), bool)
    for b, (rows, slots) in enumerate(grid):
        y[b, slots] = table.c[rows]
        ok[b, slots] = table.c_mask[rows]
    fit_on = np.ones(len(grid), bool)
    if subjects is not None:
        keep = set(subjects)
        fit_on = np.asarray([table.subject[rows[0]] in keep for rows, _ in grid])
        if not fit_on.any():
            raise ValueError(f"subjects: none of {sorted(keep)} is in the table.")
    fitted = smoother.fit(y[fit_on], ok[fit_on])
    has = ok.any(axis=1)
    cs, _ = fitted.smooth(y[has], ok[has])
    c = np.asarray(table.c, np.float32).copy()
    for b, smoothed in zip(np.flatnonzero(has), cs, strict=True):
        rows, slots = grid[b]
        c[rows] = smoothed[slots]
    table.c = c
    return table, fitted


def table_smoother(
    blendshapes: BlendshapeModel, dynamics: ReducedModel, *, fps: float, options=None
) -> CoefficientSmoother:
    """The main job's smoother: the template's Galerkin dynamics driven through the FACS synergies
    of its AU basis (``a = A^T s``, A = ``blendshapes.au_activations``: the drive s is in
    AU-intensity units).

    Args:
        blendshapes: the template's blendshape model (its ``au_activations``).
        dynamics: the template's Galerkin-reduced skin (:func:`template_dynamics`, or the physics
            method's ``PhysicsTemplate.reduced``).
        fps: the sequences' frame rate.
        options: the config's ``data.smoother`` section (``enabled`` and any of
            :class:`aujax.physics.CoefficientSmoother`'s ``robust_iterations``,
            ``robust_threshold``, ``fit_sequences``, ``fit_window``, ``drive_orders``,
            ``activation_sds``, ``activation_times``, ``noise_scales``); None: the defaults.

    Returns:
        :class:`aujax.physics.CoefficientSmoother` (noise and settings fitted on use).
    """
    opts = {} if options is None else dict(options)
    unknown = set(opts) - {"enabled", *_SMOOTHER_OPTIONS}
    if unknown:
        raise ValueError(f"data.smoother: unknown options {sorted(unknown)}.")
    kw = {
        name: tuple(opts[name]) if isinstance(opts[name], list | tuple) else opts[name]
        for name in _SMOOTHER_OPTIONS
        if name in opts
    }
    with jax.enable_x64(True):
        model = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), dynamics)
        synergies = jnp.asarray(blendshapes.au_activations, jnp.float64)
    return CoefficientSmoother(model=model, synergies=synergies, fps=float(fps), **kw)


def prepared_table(
    kind: str,
    data,
    *,
    seed: int,
    cache: pathlib.Path,
    log=print,
    aus=None,
    blendshapes=None,
    dynamics: ReducedModel | None = None,
) -> tuple[FrameTable, pathlib.Path, bool]:
    """A dataset as a :class:`FrameTable` with reconstructed coefficients, everything cached.

    The copy (a given one, or the synthetic default generated once, :func:`aujax.synth.dataset_root`),
    its TFDS files and its coefficients live under ``cache``, so every experiment reuses what
    another prepared. Two cache files: the per-frame coefficients (keyed by the table's
    fingerprint and the engine settings) and, when ``data.smoother.enabled``, the smoothed ones
    (that key plus the smoother's settings, :meth:`CoefficientSmoother.key`), so changing the
    smoother reuses the engine's work and never a stale smoothing.

    Args:
        kind: ``"bp4d"`` or ``"disfa"``.
        data: the config's ``data`` section (``bp4d_dir``/``disfa_dir``, ``synthetic_preset``/
            ``disfa_preset``, ``image_size``, ``template_vertices``, ``engine_iterations``,
            ``engine_nnls_iterations``, ``engine_nnls_method``, ``engine_neutral_fraction``,
            ``smoother``). A config written before ``engine_neutral_fraction`` or ``smoother``
            existed gets what it ran with then: the median identity over all neutral frames (1.0)
            and no smoothing.
        seed: the synthetic generator's and the template's seed.
        cache: the cache directory (:func:`aujax.datasets.cache_root`).
        log: progress lines.
        aus: DISFA label columns (default: its 12 coded AUs); BP4D always has its 12.
        blendshapes: the template's :class:`BlendshapeModel` (None: built when coefficients must
            be reconstructed or smoothed).
        dynamics: the template's Galerkin-reduced skin for the smoother (the physics method passes
            its ``PhysicsTemplate.reduced``; None: built by :func:`template_dynamics` when needed).

    Returns:
        ``(table, root, synthetic)``.
    """
    given = data.bp4d_dir if kind == "bp4d" else data.disfa_dir
    preset = data.synthetic_preset if kind == "bp4d" else data.disfa_preset
    root, synthetic = dataset_root(kind, given=given, preset=preset, seed=seed, cache=cache,
                                   image_size=data.image_size, log=log)  # fmt: skip
    tfds_dir = cache / "tfds" / root.name
    t0 = time.perf_counter()
    if kind == "bp4d":
        table = load_bp4d_table(root, tfds_dir, image_size=data.image_size)
    else:
        table = load_disfa_table(root, tfds_dir, aus=aus, image_size=data.image_size)
    method = data.get("engine_nnls_method", "apg")  # a run configured before the option: APG
    fraction = float(data.get("engine_neutral_fraction", 1.0))  # before the option: all frames
    key = (
        f"{table_fingerprint(table)}_v{data.template_vertices}_"
        f"i{data.engine_iterations}_n{data.engine_nnls_iterations}"
        f"{'' if method == 'apg' else '_' + method}"
        f"{'' if fraction == 1.0 else f'_nf{fraction:g}'}_e{ENGINE_VERSION}{TEMPLATE_TAG}"
    )  # the template generation: coefficients of a given copy are refitted when it changes
    cpath = cache / "coefficients" / f"{root.name}_{key}.npz"
    if cpath.exists():
        with np.load(cpath) as z:
            table.c, table.c_mask = z["c"], z["c_mask"]
    else:
        intrinsics = synthetic_intrinsics(root)
        if intrinsics is None:
            intrinsics = nominal_intrinsics()
            log(f"  {kind}: no camera calibration known; a nominal 30-degree camera is assumed.")
        if blendshapes is None:
            blendshapes = template_blendshapes(n_vertices=data.template_vertices, seed=seed)
        log(f"  {kind}: reconstructing blendshape coefficients of {len(table)} frames "
            "(top-down engine)...")  # fmt: skip
        reconstruct_coefficients(
            table, blendshapes, intrinsics=intrinsics, iterations=data.engine_iterations,
            nnls_iterations=data.engine_nnls_iterations, nnls_method=method,
            neutral_fraction=fraction,
        )  # fmt: skip
        cpath.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cpath, c=table.c, c_mask=table.c_mask)
    options = data.get("smoother", None)
    if options is not None and options.get("enabled", False):
        if blendshapes is None or dynamics is None:
            blendshapes, dynamics = template_dynamics(
                n_vertices=data.template_vertices, seed=seed, blendshapes=blendshapes
            )
        fps = 25.0 if synthetic else _FPS[kind]
        smoother = table_smoother(blendshapes, dynamics, fps=fps, options=options)
        digest = hashlib.sha1(smoother.key().encode()).hexdigest()[:12]
        spath = cache / "coefficients" / f"{root.name}_{key}_rts{digest}.npz"
        if spath.exists():
            with np.load(spath) as z:
                table.c = z["c"]
        else:
            t1 = time.perf_counter()
            _, fitted = smooth_table(table, smoother)
            log(f"  {kind}: coefficients smoothed with the reduced dynamics (Kalman/RTS, "
                f"{fitted.settings.key()}) in {time.perf_counter() - t1:.0f} s.")  # fmt: skip
            np.savez(spath, c=table.c, c_mask=table.c_mask)
    log(
        f"  {kind}: {len(table)} frames of {len(set(table.subject.tolist()))} subjects ready in "
        f"{time.perf_counter() - t0:.0f} s ({100 * table.c_mask.mean():.1f} % reconstructed)."
    )
    return table, root, synthetic


def template_blendshapes(*, n_vertices: int, seed: int) -> BlendshapeModel:
    """The template's AU blendshape model in float64 (the engine's model when a caller
    gives none; the same as :func:`aujax.methods.physics.build_physics_template`'s)."""
    with jax.enable_x64(True):
        model, _ = build_au_blendshapes(make_face(n_vertices, seed=seed))
    return model


def template_dynamics(
    *, n_vertices: int, seed: int, blendshapes: BlendshapeModel | None = None
) -> tuple[BlendshapeModel, ReducedModel]:
    """The template's blendshapes and Galerkin-reduced skin in float64.

    :func:`aujax.physics.reduce_template`, as :func:`aujax.methods.physics.build_physics_template`
    builds it: the template's spring-mass skin reduced onto its AU basis, with the muscles'
    directed force map g. For the smoother
    when no physics template is at hand (the top-down experiment); the physics experiment passes
    its template's ``reduced`` instead.

    Args:
        n_vertices: template resolution.
        seed: the template's seed.
        blendshapes: the template's blendshape model if already built (else built here).

    Returns:
        ``(blendshapes, reduced)``.
    """
    with jax.enable_x64(True):
        blendshapes, reduced, _ = reduce_template(
            make_face(n_vertices, seed=seed), blendshapes=blendshapes
        )
    return blendshapes, reduced
