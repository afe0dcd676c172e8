r"""The cascade of linear regressors of seed 004 (eqs. 11-13, Algorithm 1), generic over features.

A cascade of K stages refines the model parameters ``g = [alpha; beta]`` (identity and expression
weights) of one image. Stage k extracts features at the current estimate and adds a regressed
update (eq. 12); the camera ``c`` is not regressed but re-solved from the updated shape (eq. 6):

.. math::
    c^{k-1} = \mathrm{camera}(g^{k-1}),\quad
    \Delta g^k = R^k\big(F(I, P_{i \in L}(g^{k-1}, c^{k-1}))\big),\quad
    g^k = g^{k-1} + \Delta g^k .

Training (Algorithm 1) fits each ``R^k`` to the remaining parameter errors of all training rows
(eq. 13, with a ridge penalty: the paper gives no regulariser, see :mod:`._ridge`):

.. math::
    R^k = \arg\min_{R} \sum_{j=1}^N \big\|(g^\star_j - g^{k-1}_j)
          - R\big(F(I_j, P_{i \in L}(g^{k-1}_j, c^{k-1}_j))\big)\big\|^2 + \alpha_k \|W_k\|_F^2 .

The code is generic: ``features(g, camera, sample)`` and ``camera(g, sample)`` are callables for
one example (jit-compatible; they are vmapped over rows), and ``sample`` is any pytree (image,
detected landmarks, ...). Nothing here depends on the bilinear model, the HOG or the camera solve.
A cascade that regresses the camera too (the HOG-only baseline standing in for Zhu et al.) puts
the camera parameters into ``g`` and lets ``camera`` read them from ``g``.

**Where the paper is silent.**

* *Training perturbations.* Algorithm 1 starts every training sample from its landmark fit
  (eq. 7) and no more; it does not perturb. Each sample therefore contributes its unperturbed
  start (the paper), plus ``perturbations`` copies started at
  ``g^0 + perturbation_scale * sigma * eps``, ``eps ~ N(0, I)``, where ``sigma`` (P,) is the
  root-mean-square initial error ``g* - g^0`` of each parameter over the training samples: the
  Monte-Carlo sampling of initial estimates of the supervised descent method (seed 004's
  ref. [19]) and of Zhu et al. (ref. [6]), drawn from the spread of the initialiser's own
  errors. The camera of a perturbed start is re-solved from it (eq. 6), like every later camera.
* *Regulariser.* Ridge, one ``alpha`` per stage (given, or chosen on held-out subjects by
  :func:`select_alphas`).

**The training residual does not increase across stages, by construction.** Let
``D = G* - G^{k-1}`` be the stage's targets (rows: training rows). The ridge solution minimises
``RSS(W, b) + alpha ||W||^2``, and ``(W, b) = (0, 0)`` (the "no update" regressor) is feasible,
so ``RSS(W*, b*) <= RSS(W*, b*) + alpha ||W*||^2 <= RSS(0, 0) = ||D||^2``. The residual after
the stage, ``G* - G^k = D - (X W* + 1 b*^T)``, has exactly the squared norm ``RSS(W*, b*)``, so
``rss[k] <= rss[k-1]`` (with or without intercept, with or without standardisation, any
``alpha >= 0``). The inequality is exact arithmetic; to make it hold in floating point too
(a float32 Cholesky of an ill-conditioned Gram matrix can lose it when the residual is already
tiny), a stage whose update would increase the training residual is replaced by the zero
regressor, and :attr:`Cascade.guarded` records it.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from ._ridge import SOLVERS, RidgeRegressor, Solver, choose_alpha, fit_ridge


__all__ = [
    "Cascade",
    "CascadeFit",
    "apply_cascade",
    "apply_cascade_batch",
    "select_alphas",
    "train_cascade",
]

Features = Callable[[Array, Any, Any], Array]
CameraFn = Callable[[Array, Any], Any]


@struct.dataclass
class Cascade:
    """A trained cascade of K ridge stages (seed 004, Algorithm 1) and its training record.

    Attributes:
        regressors: the K stages as one :class:`RidgeRegressor` with a leading stage axis:
            ``coef`` (K, F, P), ``intercept`` (K, P), ``alpha`` (K,), ``penalty`` (K,).
        rss: (K + 1,) training residual sum of squares ``sum_j ||g*_j - g^k_j||^2`` over the
            training rows, at the start (k = 0) and after each stage; non-increasing.
        residual: (K + 1,) the same as a root-mean-square parameter error per row,
            ``sqrt(rss / rows)``.
        objective: (K,) the ridge objective of each stage at its optimum (eq. 13 plus the
            penalty): ``objective[k - 1] = rss[k] + regressors.penalty[k - 1]``, k = 1..K; it lies
            between ``rss[k]`` and ``rss[k - 1]``.
        guarded: (K,) True where the stage was replaced by the zero regressor (see the module
            docstring: never in exact arithmetic).
        held_out_residual: (K + 1,) root-mean-square parameter error of the held-out rows (from
            :func:`select_alphas`), or None.
        alpha_errors: (K, A) held-out mean squared error of each candidate alpha per stage (from
            :func:`select_alphas`), or None.
        rows: number of training rows (samples x (1 + perturbations)). Static.
        fit_intercept, standardize, solver: the ridge options of every stage. Static.
    """

    regressors: RidgeRegressor
    rss: Float[Array, " K1"]
    residual: Float[Array, " K1"]
    objective: Float[Array, " K"]
    guarded: Array
    held_out_residual: Float[Array, " K1"] | None = None
    alpha_errors: Float[Array, "K A"] | None = None
    rows: int = struct.field(pytree_node=False, default=0)
    fit_intercept: bool = struct.field(pytree_node=False, default=True)
    standardize: bool = struct.field(pytree_node=False, default=False)
    solver: str = struct.field(pytree_node=False, default="cholesky")

    @property
    def n_stages(self) -> int:
        return self.regressors.coef.shape[0]

    @property
    def alphas(self) -> Float[Array, " K"]:
        return self.regressors.alpha

    def stage(self, k: int) -> RidgeRegressor:
        """The regressor of stage ``k`` (0-based)."""
        return jax.tree.map(lambda a: a[k], self.regressors)

    def truncated(self, stages: int) -> "Cascade":
        """The cascade of the first ``stages`` stages (for per-stage evaluation)."""
        if not 0 <= stages <= self.n_stages:
            raise ValueError(f"stages must be in [0, {self.n_stages}], got {stages}.")
        cut = lambda a, n: None if a is None else a[:n]  # noqa: E731
        return self.replace(
            regressors=jax.tree.map(lambda a: a[:stages], self.regressors),
            rss=self.rss[: stages + 1],
            residual=self.residual[: stages + 1],
            objective=self.objective[:stages],
            guarded=self.guarded[:stages],
            held_out_residual=cut(self.held_out_residual, stages + 1),
            alpha_errors=cut(self.alpha_errors, stages),
        )


class CascadeFit(NamedTuple):
    """The result of :func:`apply_cascade` for one sample (leading batch axis when batched).

    Attributes:
        g: (P,) the final parameters ``g^K``.
        camera: the camera re-solved from ``g^K``.
        path: (K + 1, P) the parameters ``g^0, ..., g^K``.
    """

    g: Array
    camera: Any
    path: Array


# --------------------------------------------------------------------------------------------
# validation


def _leading(samples, name: str) -> int:
    leaves = jax.tree.leaves(samples)
    if not leaves:
        raise ValueError(f"{name} must be a pytree with at least one array leaf.")
    sizes = {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(
            f"every leaf of {name} must have the same leading (sample) axis, got leading sizes "
            f"{sorted(sizes)}."
        )
    return sizes.pop()


def _check_params(init_g, target_g, samples, prefix: str = ""):
    """Host (NumPy) copies of the parameters, device arrays of the samples."""
    init_g = np.asarray(init_g)
    target_g = np.asarray(target_g)
    if not np.issubdtype(init_g.dtype, np.floating):
        init_g = init_g.astype(jnp.result_type(float))
    if init_g.ndim != 2:
        raise ValueError(f"{prefix}init_g must have shape (N, P), got shape {init_g.shape}.")
    if target_g.shape != init_g.shape:
        raise ValueError(
            f"{prefix}target_g must have the shape of {prefix}init_g {init_g.shape}, got "
            f"{target_g.shape}."
        )
    if not (np.all(np.isfinite(np.asarray(init_g))) and np.all(np.isfinite(np.asarray(target_g)))):
        raise ValueError(f"{prefix}init_g and {prefix}target_g must be finite.")
    n = _leading(samples, f"{prefix}samples")
    if n != init_g.shape[0]:
        raise ValueError(
            f"{prefix}samples has {n} samples along its leading axis, {prefix}init_g has "
            f"{init_g.shape[0]} rows."
        )
    samples = jax.tree.map(jnp.asarray, samples)
    return init_g, target_g.astype(init_g.dtype), samples


def _stage_alphas(alpha, stages: int) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float64).reshape(-1)
    if a.size == 1:
        a = np.full(stages, a[0])
    if a.size != stages:
        raise ValueError(
            f"alpha must be one value or {stages} values (one per stage), got {a.size}."
        )
    if not np.all(np.isfinite(a) & (a > 0)):
        raise ValueError(f"alpha must be finite and > 0, got {alpha!r}.")
    return a


# --------------------------------------------------------------------------------------------
# features of many rows, in chunks


@jax.jit(static_argnames=("features", "camera"))
def _chunk_features(g, index, samples, *, features, camera):
    rows = jax.tree.map(lambda a: a[index], samples)

    def one(g1, s1):
        return features(g1, camera(g1, s1), s1)

    return jax.vmap(one)(g, rows)


def _features(g: np.ndarray, index: np.ndarray, samples, *, features, camera, chunk: int):
    """Features (R, F) of every row: row r at parameters ``g[r]`` on sample ``index[r]``."""
    n = g.shape[0]
    size = min(chunk, n)
    out = []
    for start in range(0, n, size):
        gc, ic = g[start : start + size], index[start : start + size]
        m = gc.shape[0]
        if m < size:  # pad the last chunk to the compiled size
            gc = np.concatenate([gc, np.repeat(gc[:1], size - m, axis=0)])
            ic = np.concatenate([ic, np.repeat(ic[:1], size - m)])
        x = _chunk_features(gc, ic, samples, features=features, camera=camera)
        if x.ndim != 2:
            raise ValueError(
                f"features(g, camera, sample) must return a 1-D feature vector, got shape "
                f"{x.shape[1:]}."
            )
        out.append(x if m == size else x[:m])
    return out[0] if len(out) == 1 else jnp.concatenate(out, axis=0)


# --------------------------------------------------------------------------------------------
# training


def _perturbed_starts(init_g, target_g, *, perturbations, perturbation_scale, key):
    """Training rows (host arrays): each sample's start, then ``perturbations`` perturbed copies."""
    n, p = init_g.shape
    index = np.repeat(np.arange(n), 1 + perturbations)
    g0 = np.repeat(init_g, 1 + perturbations, axis=0)
    if perturbations == 0:
        return g0, index
    if key is None:
        raise ValueError("key is required when perturbations > 0.")
    scale = np.asarray(perturbation_scale, dtype=np.float64)
    if scale.shape not in ((), (p,)) or not np.all(np.isfinite(scale) & (scale >= 0)):
        raise ValueError(
            f"perturbation_scale must be a finite value >= 0 or ({p},) such values, got "
            f"{perturbation_scale!r}."
        )
    sigma = np.sqrt(np.mean(np.square(target_g - init_g), axis=0)) * scale  # (P,)
    eps = np.asarray(jax.random.normal(key, (n, perturbations, p), init_g.dtype))
    noise = np.concatenate([np.zeros((n, 1, p), init_g.dtype), eps * sigma[None, None, :]], 1)
    return g0 + noise.reshape(n * (1 + perturbations), p).astype(init_g.dtype), index


@jax.jit(static_argnames=("fit_intercept", "standardize", "solver"))
def _fit_stage(x, delta, alpha, *, fit_intercept, standardize, solver):
    """One stage: the ridge fit (eq. 13), its update of every row (eq. 12), finite features?"""
    reg = fit_ridge(
        x, delta, alpha=alpha, fit_intercept=fit_intercept, standardize=standardize, solver=solver
    )
    return reg, reg.predict(x).astype(delta.dtype), jnp.all(jnp.isfinite(x))


def _sq_rows(a: np.ndarray) -> np.ndarray:
    return np.sum(np.square(a), axis=1)


def _run(
    *,
    init_g,
    target_g,
    samples,
    features,
    camera,
    stages: int,
    choose: Callable,
    held_out,
    perturbations: int,
    perturbation_scale,
    key,
    chunk: int,
    fit_intercept: bool,
    standardize: bool,
    solver: str,
    progress: Callable[[int, dict], None] | None,
) -> Cascade:
    if not (isinstance(stages, int) and stages >= 1):
        raise ValueError(f"stages must be an integer >= 1, got {stages!r}.")
    if not (isinstance(perturbations, int) and perturbations >= 0):
        raise ValueError(f"perturbations must be an integer >= 0, got {perturbations!r}.")
    if not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}.")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")
    init_g, target_g, samples = _check_params(init_g, target_g, samples)
    g, index = _perturbed_starts(
        init_g,
        target_g,
        perturbations=perturbations,
        perturbation_scale=perturbation_scale,
        key=key,
    )
    target = target_g[index]
    rows = g.shape[0]

    def feats(gg, ii, ss):
        return _features(gg, ii, ss, features=features, camera=camera, chunk=chunk)

    if held_out is not None:
        v_g, v_target, v_samples = held_out
        v_index = np.arange(v_g.shape[0])
        v_resid = [float(np.sqrt(np.mean(_sq_rows(v_target - v_g))))]
    rss = [float(np.sum(_sq_rows(target - g)))]
    regs, objective, guarded, alpha_errors = [], [], [], []
    for k in range(stages):
        x = feats(g, index, samples)
        delta = target - g
        if held_out is not None:
            x_val = feats(v_g, v_index, v_samples)
            alpha, errors = choose(k, x, delta, x_val, v_target - v_g)
            alpha_errors.append(errors)
        else:
            alpha = choose(k, x, delta, None, None)[0]
        reg, step, finite = _fit_stage(
            x,
            jnp.asarray(delta, x.dtype),
            jnp.asarray(alpha, x.dtype),
            fit_intercept=fit_intercept,
            standardize=standardize,
            solver=solver,
        )
        if not bool(finite):
            raise ValueError(f"features(g, camera, sample) gave NaN or inf at stage {k + 1}.")
        step = np.asarray(step, dtype=g.dtype)
        new_rss = float(np.sum(_sq_rows(delta - step)))
        bad = not new_rss <= rss[-1]
        if bad:  # rounding only (module docstring): keep the estimate, record the stage
            reg = RidgeRegressor.zeros(x.shape[1], delta.shape[1], x.dtype).replace(
                alpha=jnp.asarray(alpha, x.dtype)
            )
            step, new_rss = np.zeros_like(g), rss[-1]
        g = g + step
        rss.append(new_rss)
        objective.append(new_rss + float(reg.penalty))
        guarded.append(bad)
        regs.append(reg)
        if held_out is not None:
            v_g = v_g + np.asarray(reg.predict(x_val), dtype=v_g.dtype)
            v_resid.append(float(np.sqrt(np.mean(_sq_rows(v_target - v_g)))))
        if progress is not None:
            info = {"alpha": float(alpha), "residual": float(np.sqrt(new_rss / rows))}
            if held_out is not None:
                info["held_out_residual"] = v_resid[-1]
            progress(k, info)
    dtype = g.dtype
    rss_a = np.asarray(rss, dtype)
    return Cascade(
        regressors=jax.tree.map(lambda *a: jnp.stack(a), *regs),
        rss=jnp.asarray(rss_a),
        residual=jnp.asarray(np.sqrt(rss_a / rows)),
        objective=jnp.asarray(objective, dtype),
        guarded=jnp.asarray(guarded, bool),
        held_out_residual=None if held_out is None else jnp.asarray(v_resid, dtype),
        alpha_errors=None if held_out is None else jnp.asarray(np.stack(alpha_errors), dtype),
        rows=rows,
        fit_intercept=fit_intercept,
        standardize=standardize,
        solver=solver,
    )


def train_cascade(
    *,
    init_g: Float[ArrayLike, "N P"],
    target_g: Float[ArrayLike, "N P"],
    samples: PyTree,
    features: Features,
    camera: CameraFn,
    stages: int,
    alpha: float | Sequence[float],
    perturbations: int = 0,
    perturbation_scale: float | Float[ArrayLike, " P"] = 1.0,
    key: PRNGKeyArray | None = None,
    chunk: int = 256,
    fit_intercept: bool = True,
    standardize: bool = False,
    solver: Solver = "cholesky",
    progress: Callable[[int, dict], None] | None = None,
) -> Cascade:
    r"""Trains the cascade of seed 004, Algorithm 1 (eqs. 11-13), with ridge stages.

    For k = 1..K: features of every training row at ``(g^{k-1}, camera(g^{k-1}))`` (line 3),
    ridge fit of the remaining errors ``g* - g^{k-1}`` (line 4, eq. 13), update of every row
    (line 5, eq. 12); the camera of line 6 is re-solved from ``g^k`` by ``camera`` at the next
    feature extraction (and by :func:`apply_cascade` at the end).

    .. math::
        R^k = \arg\min_{W, b} \sum_j \|(g^\star_j - g^{k-1}_j) - W^\top F_j^{k-1} - b\|^2
              + \alpha_k \|W\|_F^2

    Args:
        init_g: (N, P) the starting parameters of each training sample (the landmark fit, eq. 7).
        target_g: (N, P) the ground truth ``g*``.
        samples: a pytree of arrays with leading axis N (image, landmarks, ...); one slice is the
            ``sample`` the callables receive.
        features: ``features(g (P,), camera, sample) -> (F,)``, for one example, jit-compatible
            (eqs. 8-10 in the method). Static: pass the same function object to reuse the compile.
        camera: ``camera(g (P,), sample) -> camera pytree`` (eq. 6 in the method).
        stages: K >= 1.
        alpha: the ridge strength, one value or K values (one per stage), > 0.
        perturbations: perturbed copies per sample besides its start (0: Algorithm 1 as written;
            see the module docstring).
        perturbation_scale: the perturbations' standard deviation in units of the per-parameter
            RMS initial error ``g* - g^0``; a value or (P,) values.
        key: PRNG key of the perturbations (required when ``perturbations > 0``).
        chunk: rows per vectorised feature call (bounds memory; the last chunk is padded).
        fit_intercept, standardize, solver: the ridge options (:func:`fit_ridge`).
        progress: optional ``progress(k, info)`` called after each stage (a progress bar).

    Returns:
        :class:`Cascade`, with the training residual of every stage (non-increasing).
    """
    alphas = _stage_alphas(alpha, stages) if isinstance(stages, int) and stages >= 1 else None
    return _run(
        init_g=init_g,
        target_g=target_g,
        samples=samples,
        features=features,
        camera=camera,
        stages=stages,
        choose=lambda k, *_: (alphas[k], None),
        held_out=None,
        perturbations=perturbations,
        perturbation_scale=perturbation_scale,
        key=key,
        chunk=chunk,
        fit_intercept=fit_intercept,
        standardize=standardize,
        solver=solver,
        progress=progress,
    )


def select_alphas(
    *,
    init_g: Float[ArrayLike, "N P"],
    target_g: Float[ArrayLike, "N P"],
    samples: PyTree,
    held_out_init_g: Float[ArrayLike, "M P"],
    held_out_target_g: Float[ArrayLike, "M P"],
    held_out_samples: PyTree,
    features: Features,
    camera: CameraFn,
    stages: int,
    alphas: Sequence[float],
    perturbations: int = 0,
    perturbation_scale: float | Float[ArrayLike, " P"] = 1.0,
    key: PRNGKeyArray | None = None,
    chunk: int = 256,
    fit_intercept: bool = True,
    standardize: bool = False,
    solver: Solver = "cholesky",
    progress: Callable[[int, dict], None] | None = None,
) -> Cascade:
    """Trains the cascade choosing each stage's alpha on held-out samples (greedy, stage by stage).

    At stage k every candidate is fitted on the training rows and scored by the held-out mean
    squared error of its update (:func:`choose_alpha` on the held-out rows' features and
    remaining errors); the best is kept, and both the training and the held-out estimates advance
    with it. Held-out rows start at ``held_out_init_g`` and are never perturbed (test conditions);
    use samples of subjects not in the training set.

    Args:
        init_g, target_g, samples: the training set, as :func:`train_cascade`.
        held_out_init_g, held_out_target_g, held_out_samples: (M, P), (M, P) and a pytree with
            leading axis M: the held-out set.
        alphas: (A,) positive candidates.
        features, camera, stages, perturbations, perturbation_scale, key, chunk, fit_intercept,
            standardize, solver, progress: as :func:`train_cascade`.

    Returns:
        :class:`Cascade` with the chosen ``alphas``, ``held_out_residual`` (K + 1,) and
        ``alpha_errors`` (K, A).
    """
    grid = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if grid.size == 0 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise ValueError(f"alphas must be a non-empty list of finite values > 0, got {alphas!r}.")
    held_out = _check_params(
        held_out_init_g, held_out_target_g, held_out_samples, prefix="held_out_"
    )

    def choose(k, x, y, x_val, y_val):
        choice = choose_alpha(
            x,
            y,
            x_val,
            y_val,
            alphas=grid,
            fit_intercept=fit_intercept,
            standardize=standardize,
            solver=solver,
        )
        return choice.alpha, choice.errors

    return _run(
        init_g=init_g,
        target_g=target_g,
        samples=samples,
        features=features,
        camera=camera,
        stages=stages,
        choose=choose,
        held_out=held_out,
        perturbations=perturbations,
        perturbation_scale=perturbation_scale,
        key=key,
        chunk=chunk,
        fit_intercept=fit_intercept,
        standardize=standardize,
        solver=solver,
        progress=progress,
    )


# --------------------------------------------------------------------------------------------
# inference


def apply_cascade(
    cascade: Cascade,
    g0: Float[ArrayLike, " P"],
    sample: PyTree,
    *,
    features: Features,
    camera: CameraFn,
) -> CascadeFit:
    r"""Runs a trained cascade on one sample (seed 004, eq. 12, camera re-solved every stage).

    .. math::
        g^k = g^{k-1} + R^k\big(F(I, P_{i \in L}(g^{k-1}, \mathrm{camera}(g^{k-1})))\big),
        \quad k = 1..K

    Pure and jit/vmap-compatible (a ``lax.scan`` over the stages).

    Args:
        cascade: a trained :class:`Cascade`.
        g0: (P,) the starting parameters (the landmark fit, eq. 7).
        sample: one sample (a slice of the training ``samples`` pytree).
        features, camera: the callables the cascade was trained with.

    Returns:
        :class:`CascadeFit` ``(g (P,), camera, path (K + 1, P))``.
    """
    g0 = jnp.asarray(g0)
    p = cascade.regressors.coef.shape[-1]
    if g0.shape != (p,):
        raise ValueError(f"g0 must have shape ({p},) (the cascade's parameters), got {g0.shape}.")

    def stage(g, reg):
        x = features(g, camera(g, sample), sample)
        g = g + reg.predict(x).astype(g.dtype)
        return g, g

    g, path = jax.lax.scan(stage, g0, cascade.regressors)
    path = jnp.concatenate([g0[None, :], path], axis=0)
    return CascadeFit(g=g, camera=camera(g, sample), path=path)


@jax.jit(static_argnames=("features", "camera"))
def _apply_batch(cascade, g0, samples, *, features, camera):
    return jax.vmap(lambda g, s: apply_cascade(cascade, g, s, features=features, camera=camera))(
        g0, samples
    )


def apply_cascade_batch(
    cascade: Cascade,
    g0: Float[ArrayLike, "B P"],
    samples: PyTree,
    *,
    features: Features,
    camera: CameraFn,
    chunk: int | None = None,
) -> CascadeFit:
    """:func:`apply_cascade` over a batch (jit + vmap), in chunks of ``chunk`` samples if given.

    Args:
        cascade: a trained :class:`Cascade`.
        g0: (B, P) starting parameters.
        samples: pytree with leading axis B.
        features, camera: the callables the cascade was trained with (static).
        chunk: samples per compiled call (the last chunk is padded); None: all at once.

    Returns:
        :class:`CascadeFit` with a leading batch axis: ``g`` (B, P), ``camera`` (B, ...),
        ``path`` (B, K + 1, P).
    """
    g0 = jnp.asarray(g0)
    if g0.ndim != 2:
        raise ValueError(f"g0 must have shape (B, P), got shape {g0.shape}.")
    n = _leading(samples, "samples")
    if n != g0.shape[0]:
        raise ValueError(f"samples has {n} samples along its leading axis, g0 has {g0.shape[0]}.")
    samples = jax.tree.map(jnp.asarray, samples)
    run = lambda g, s: _apply_batch(cascade, g, s, features=features, camera=camera)  # noqa: E731
    if chunk is None or chunk >= n:
        return run(g0, samples)
    if not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"chunk must be an integer >= 1 or None, got {chunk!r}.")
    parts = []
    for start in range(0, n, chunk):
        idx = jnp.arange(start, start + chunk)
        idx = jnp.minimum(idx, n - 1)  # pad the last chunk with the last sample
        m = min(chunk, n - start)
        out = run(g0[idx], jax.tree.map(lambda a, i=idx: a[i], samples))
        parts.append(jax.tree.map(lambda a, m=m: a[:m], out))
    return jax.tree.map(lambda *a: jnp.concatenate(a, axis=0), *parts)
