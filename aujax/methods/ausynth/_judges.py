r"""The third-party AU-intensity judges of seed 002 (section 4.3, Tables 1 and 2).

**Parameter judges** (Table 1): per AU, a linear regressor from 3DMM expression parameters to the
AU's intensity, trained on real parameters and applied to generated ones. Two kinds:

* ``"svr"``: ``sklearn.svm.LinearSVR`` (epsilon-insensitive loss, liblinear's dual coordinate
  descent, intercept regularised with ``intercept_scaling = 1``), one per AU; or the same problem
  by the JAX solver (``svr_solver="jax"``, faster on thousands of frames);
* ``"osvr"``: ordinal SVR (Zhao et al., CVPR 2016) by :func:`aujax.train.fit_osvr` with pairs
  from :func:`aujax.train.ordinal_pairs_from_labels` (rising / falling runs of each sequence's
  labels, frames at most ``max_gap`` training rows apart), all AUs in one ``vmap``.

**Where the paper is silent, and what is chosen here:**

* *Kernel.* Linear for both: the OSVR of [26] is linear, and the expression parameters are a
  linear (PCA) image of mesh offsets that are themselves close to linear in AU intensity, so a
  linear judge is the matched model; it also makes every judge one affine map (a pytree).
* *Standardisation.* Features are standardised with the training mean and standard deviation
  (ddof 0, constant columns left unscaled), as ``StandardScaler``; the penalty is on the
  standardised weights. Labels stay on the 0-5 scale (not the [-1, 1] the generators see).
* *Hyper-parameters.* ``C = 1``, ``epsilon = 0.1`` (a tenth of a level), OSVR ``C_o = 1`` and margin
  1, which is one intensity level, so pairs of labels one level apart ask for exactly what a
  perfect regressor gives and the two terms never pull against each other. Pairs are unweighted.
* *Training rows.* "random samples comprising 30 % of all non-neutral faces" (section 4.3):
  :func:`judge_training_rows` draws 30 % of the training frames with any AU above 0, and keeps
  them in temporal order, so OSVR's pairs come from each sequence's subsampled trajectory.
* *Levels.* The paper estimates intensities "to 6 intensity levels" but Table 1 reports
  MSE < MAE in four cells (SVR CAAE 0.409 / 0.38, CAAE* 0.395 / 0.374, OSVR CAAE* 0.386 / 0.344),
  impossible with integer predictions of integer labels (every error e then has e^2 >= |e|, per
  AU and in the mean). So predictions are continuous, clipped to [0, 5] by default
  (``levels="clip"``); ``"round"`` rounds them to the six levels, ``"none"`` leaves them raw.
* *Metrics.* MAE and MSE per AU over the test frames (9s and NaN left out), then their mean over
  AUs (Table 1's numbers), with ICC(3,1) beside them (:func:`aujax.train.intensity_metrics`).

**Image judge** (Table 2): the paper uses OpenFace's pre-trained AU intensity SVRs, linear SVRs
on HOG features of a similarity-aligned face crop (OpenFace: 112 x 112 px, 8-pixel cells,
Felzenszwalb's 31-bin HOG, PCA). Here the same recipe is trained on real crops of the DISFA-like
set and applied to renders of generated parameters: grayscale crop (skimage's ``rgb2gray``
weights) -> :func:`aujax.render.hog` (``skimage.feature.hog``) -> standardisation -> one linear SVR
per AU. HOG layout (:class:`HogLayout`): an ``8 x 8`` grid of square cells over the crop (8-pixel
cells on the 64-pixel crops of :func:`aujax.datasets.load_disfa_table`, 16-pixel on 128; a cell
is about an eighth of the face, the size of a brow, an eye or a mouth corner), 9 unsigned
orientations, blocks of 2 x 2 cells at a one-cell stride, ``L2-Hys``: 7 x 7 blocks x 36 = 1764
features whatever the crop side. ``cells=14`` gives OpenFace's grid on a 112-pixel crop. The SVR
defaults to ``C = 0.1`` (1764 features: more regularisation than the parameter judges' ``C = 1``;
on the drawn-crop test set 0.01 underfits, 0.1 and 1 give the same fit).

**Person-specific normalisation** (``normalise="person_median"``, :func:`person_median_features`):
OpenFace 2.0's AU intensity SVRs (Baltrušaitis, Mahmoud and Robinson, FG 2015, "Cross-dataset
learning and person-specific normalisation for automatic Action Unit detection") subtract the
person's median HOG descriptor from every frame's descriptor, in training and at test, so that
what is constant for a person (identity, light, a fixed head pose) leaves the features and what
changes within the video (the expression) stays. OpenFace keeps a running (histogram) median per
video online and re-predicts with the whole video's median offline; here the median is taken over
**all the frames given for that subject in one call** (``subjects=``): at training, over the
subject's training rows; at prediction, over the subject's rows of the ``crops`` passed, so for
a generator's renders of a test subject it is the median over that subject's renders, and for
real test crops over that subject's test crops. OpenFace's further per-person output calibration
(shifting each video's predictions by a low percentile) is not done. The library default is
``"none"`` (the judge as before, ``subjects`` ignored); the experiment sets it in its config
(``judges.image_normalise``).
"""

import functools
import warnings
from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ...datasets import NOT_CODED
from ...render import BLOCK_NORMS, hog, hog_size
from ...train import fit_osvr, intensity_metrics, ordinal_pairs_from_labels, person_quantile


__all__ = [
    "JUDGE_KINDS",
    "LEVELS",
    "NORMALISATIONS",
    "SVR_SOLVERS",
    "HogLayout",
    "ImageJudge",
    "LinearJudge",
    "crop_features",
    "fit_image_judge",
    "fit_parameter_judges",
    "image_judge_predict",
    "judge_metrics",
    "judge_predictions",
    "judge_training_rows",
    "person_median_features",
]

JUDGE_KINDS: tuple[str, ...] = ("svr", "osvr")
"""The judge kinds of Table 1: scikit-learn's linear SVR and the JAX ordinal SVR."""

SVR_SOLVERS: tuple[str, ...] = ("sklearn", "jax")
"""Solvers of the ``"svr"`` judge: liblinear through ``sklearn.svm.LinearSVR``, or
:func:`aujax.train.fit_osvr` with ``C_o = 0`` (the same problem, solved to a certified optimum)."""

LEVELS: tuple[str, ...] = ("clip", "round", "none")
"""How predictions become intensities: clipped to [0, 5], rounded to the six levels, or raw."""

NORMALISATIONS: tuple[str, ...] = ("none", "person_median")
"""Feature normalisations of the image judge: none, or OpenFace's person-specific one (each
frame's HOG minus its subject's median HOG, :func:`person_median_features`)."""

MAX_INTENSITY = 5
_GRAY = (0.2125, 0.7154, 0.0721)  # skimage.color.rgb2gray
_HOG_CHUNK = 256  # crops per jitted HOG call


@struct.dataclass
class LinearJudge:
    """Per-AU linear intensity regressors on standardised features.

    ``predict(x)[:, k] = ((x - mean) / scale) @ coef[k] + intercept[k]``.

    Attributes:
        mean: (d,) training feature means.
        scale: (d,) training feature standard deviations (1 for constant features).
        coef: (K, d) weights on the standardised features.
        intercept: (K,) intercepts.
        kind: ``"svr"`` or ``"osvr"`` (static).
        aus: the AU numbers of the K outputs (static; () if not given).
    """

    mean: Float[Array, " d"]
    scale: Float[Array, " d"]
    coef: Float[Array, "K d"]
    intercept: Float[Array, " K"]
    kind: str = struct.field(pytree_node=False, default="svr")
    aus: tuple[int, ...] = struct.field(pytree_node=False, default=())

    @property
    def n_features(self) -> int:
        return self.coef.shape[-1]

    @property
    def n_aus(self) -> int:
        return self.coef.shape[-2]

    def predict(self, x: Float[ArrayLike, "*batch d"]) -> Float[Array, "*batch K"]:
        """Raw (unclipped) intensities of one feature vector (d,) or rows (n, d)."""
        x = jnp.asarray(x)
        if x.shape[-1:] != (self.n_features,):
            raise ValueError(
                f"x must have {self.n_features} features in its last axis, got shape {x.shape}."
            )
        x = x.astype(self.coef.dtype)
        z = (x - jnp.broadcast_to(self.mean, x.shape)) / jnp.broadcast_to(self.scale, x.shape)
        out = z @ self.coef.T
        return out + jnp.broadcast_to(self.intercept, out.shape)


@struct.dataclass
class HogLayout:
    """The HOG of a face crop for the image judge (static; hashable).

    Attributes:
        cells: cells per side of the crop (square cells of ``side // cells`` pixels; the last
            ``side % cells`` rows and columns belong to no cell, as in skimage).
        orientations: unsigned orientation bins over [0, 180) degrees.
        cells_per_block: cells per side of a block (stride one cell).
        block_norm: one of ``aujax.render.BLOCK_NORMS``.
    """

    cells: int = struct.field(pytree_node=False, default=8)
    orientations: int = struct.field(pytree_node=False, default=9)
    cells_per_block: int = struct.field(pytree_node=False, default=2)
    block_norm: str = struct.field(pytree_node=False, default="L2-Hys")

    def __post_init__(self):
        for name in ("cells", "orientations", "cells_per_block"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        if self.cells_per_block > self.cells:
            raise ValueError(
                f"cells_per_block ({self.cells_per_block}) must be <= cells ({self.cells})."
            )
        if self.block_norm not in BLOCK_NORMS:
            raise ValueError(f"block_norm must be one of {BLOCK_NORMS}, got {self.block_norm!r}.")

    def hog_kwargs(self, side: int) -> dict:
        """The keyword arguments of :func:`aujax.render.hog` for a ``side x side`` crop."""
        cell = side // self.cells
        if cell < 1:
            raise ValueError(f"a {side}-pixel crop is too small for {self.cells} cells per side.")
        return dict(
            orientations=self.orientations,
            pixels_per_cell=(cell, cell),
            cells_per_block=(self.cells_per_block, self.cells_per_block),
            block_norm=self.block_norm,
        )

    def size(self, side: int) -> int:
        """Feature length for a ``side x side`` crop."""
        kwargs = self.hog_kwargs(side)
        del kwargs["block_norm"]
        return hog_size(side, side, **kwargs)


@struct.dataclass
class ImageJudge:
    """HOG of an aligned face crop + per-AU linear SVR (the OpenFace recipe, Table 2).

    Attributes:
        regressor: the per-AU :class:`LinearJudge` on the HOG features.
        layout: the :class:`HogLayout` (static).
        side: the crop side in pixels it was trained on (static).
        normalise: one of :data:`NORMALISATIONS` (static): ``"person_median"`` judges want the
            subject of every crop (:func:`image_judge_predict`).
    """

    regressor: LinearJudge
    layout: HogLayout = struct.field(pytree_node=False, default_factory=HogLayout)
    side: int = struct.field(pytree_node=False, default=64)
    normalise: str = struct.field(pytree_node=False, default="none")

    def __post_init__(self):
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {self.normalise!r}.")


# ------------------------------------------------------------------------------- labels, rows


def _labels(y, label_mask, n: int | None = None):
    """(n, K) float64 labels and (n, K) bool mask; 9 (not coded) and NaN are masked out."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or (n is not None and y.shape[0] != n):
        want = f"({n}, n_aus)" if n is not None else "(n, n_aus)"
        raise ValueError(f"y must have shape {want} or ({n},), got shape {y.shape}.")
    mask = np.isfinite(y) & (y != NOT_CODED)
    if label_mask is not None:
        lm = np.asarray(label_mask)
        if lm.dtype != bool:
            raise ValueError(f"label_mask must be boolean, got dtype {lm.dtype}.")
        if lm.ndim == 1:
            lm = lm[:, None]
        if lm.shape[0] != y.shape[0] or lm.shape[1] not in (1, y.shape[1]):
            raise ValueError(f"label_mask must have shape {y.shape} or ({y.shape[0]},).")
        mask &= lm
    bad = mask & ((y < 0) | (y > MAX_INTENSITY))
    if np.any(bad):
        i, k = np.argwhere(bad)[0]
        raise ValueError(
            f"y must hold intensities in [0, {MAX_INTENSITY}] (or {NOT_CODED} / NaN for not "
            f"coded); got {y[i, k]!r} at row {i}, AU column {k}."
        )
    return np.where(mask, y, 0.0), mask


def judge_training_rows(
    labels: ArrayLike, *, fraction: float = 0.3, key: PRNGKeyArray, label_mask=None
) -> np.ndarray:
    """Rows of a random ``fraction`` of the non-neutral frames (section 4.3: 30 %), sorted.

    A frame is non-neutral when any of its coded AU intensities is above 0. The rows come back
    in increasing order, so frames of one sequence stay in temporal order (OSVR's pairs).

    Args:
        labels: (n, K) intensities 0-5 (9 / NaN: not coded).
        fraction: the share of non-neutral frames drawn, in (0, 1].
        key: PRNG key of the draw.
        label_mask: optional (n, K) or (n,) bool of usable labels.

    Returns:
        (round(fraction * n_non_neutral),) int64 row indices, increasing.
    """
    y, mask = _labels(labels, label_mask)
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}.")
    rows = np.flatnonzero(np.any(mask & (y > 0), axis=1))
    k = int(round(float(fraction) * rows.shape[0]))
    pick = np.asarray(jax.random.permutation(key, rows.shape[0]))[:k]
    return np.sort(rows[pick]).astype(np.int64)


# ------------------------------------------------------------------------------- fitting


def _standardize(x: np.ndarray):
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def _features(name: str, x, n: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    x = x.astype(np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, d) with n >= 2, got shape {x.shape}.")
    if n is not None and x.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows, got {x.shape[0]}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf values.")
    return x


def _fit_linear(x, y, mask, *, kind, sequence, c, epsilon, c_ordinal, max_gap, aus, max_iter,
                svr_solver):  # fmt: skip
    if kind not in JUDGE_KINDS:
        raise ValueError(f"kind must be one of {JUDGE_KINDS}, got {kind!r}.")
    if svr_solver not in SVR_SOLVERS:
        raise ValueError(f"svr_solver must be one of {SVR_SOLVERS}, got {svr_solver!r}.")
    for name, v in (("c", c), ("epsilon", epsilon), ("c_ordinal", c_ordinal)):
        if not (np.isfinite(v) and v >= 0) or (name == "c" and v == 0):
            raise ValueError(f"{name} must be a finite number {'> 0' if name == 'c' else '>= 0'}.")
    n_aus = y.shape[1]
    if aus is not None:
        aus = tuple(int(a) for a in aus)
        if len(aus) != n_aus:
            raise ValueError(f"aus has {len(aus)} entries for {n_aus} label columns.")
    empty = [k for k in range(n_aus) if not mask[:, k].any()]
    if empty:
        raise ValueError(f"AU columns {empty} have no labelled training frame.")
    mean, scale = _standardize(x)
    z = (x - mean) / scale
    if kind == "svr" and svr_solver == "sklearn":
        coef, intercept = _fit_sklearn(z, y, mask, c=c, epsilon=epsilon, max_iter=max_iter)
    elif kind == "svr":  # the same problem (tests/test_osvr.py), by the JAX solver
        coef, intercept = _fit_osvr_all(z, y, mask, None, c=c, epsilon=epsilon, c_ordinal=0.0,
                                        max_gap=max_gap)  # fmt: skip
    else:
        if sequence is None:
            raise ValueError(
                "sequence is required for kind='osvr': ordinal pairs are taken within sequences "
                "(rows in temporal order)."
            )
        sequence = np.asarray(sequence)
        if sequence.shape != (x.shape[0],):
            raise ValueError(f"sequence must have shape ({x.shape[0]},), got {sequence.shape}.")
        coef, intercept = _fit_osvr_all(z, y, mask, sequence, c=c, epsilon=epsilon,
                                        c_ordinal=c_ordinal, max_gap=max_gap)  # fmt: skip
    return LinearJudge(
        mean=jnp.asarray(mean), scale=jnp.asarray(scale), coef=jnp.asarray(coef),
        intercept=jnp.asarray(intercept), kind=kind, aus=aus or (),
    )  # fmt: skip


def _fit_sklearn(z, y, mask, *, c, epsilon, max_iter):
    try:
        from sklearn.svm import LinearSVR
    except ImportError as e:  # pragma: no cover
        raise ImportError(
            "kind='svr' needs scikit-learn (pip install scikit-learn); kind='osvr' does not."
        ) from e
    coef = np.zeros((y.shape[1], z.shape[1]))
    intercept = np.zeros(y.shape[1])
    for k in range(y.shape[1]):
        rows = mask[:, k]
        svr = LinearSVR(
            C=c, epsilon=epsilon, loss="epsilon_insensitive", dual=True, tol=1e-4,
            max_iter=max_iter, random_state=0,
        ).fit(z[rows], y[rows, k])  # fmt: skip
        coef[k], intercept[k] = svr.coef_, float(np.atleast_1d(svr.intercept_)[0])
    return coef, intercept


def _fit_osvr_all(z, y, mask, sequence, *, c, epsilon, c_ordinal, max_gap):
    n_aus = y.shape[1]
    no_pairs = np.zeros((0, 2), np.int64)
    pairs = [
        no_pairs
        if sequence is None
        else ordinal_pairs_from_labels(
            y[:, k], sequence=sequence, label_mask=mask[:, k], max_gap=max_gap
        )
        for k in range(n_aus)
    ]
    # a common, bucketed length (powers of two): few compiled shapes across AUs and runs
    longest = max(max(len(p) for p in pairs), 1)
    pad = 1 << (longest - 1).bit_length()
    padded = np.zeros((n_aus, pad, 2), np.int64)
    weight = np.zeros((n_aus, pad))
    for k, p in enumerate(pairs):
        padded[k, : len(p)] = p
        weight[k, : len(p)] = 1.0
    fit = jax.vmap(
        lambda yk, mk, pk, wk: fit_osvr(
            z, yk, label_mask=mk, pairs=pk, pair_weight=wk, c=c, c_ordinal=c_ordinal,
            epsilon=epsilon,
        )
    )  # fmt: skip
    model = fit(jnp.asarray(y.T), jnp.asarray(mask.T), jnp.asarray(padded), jnp.asarray(weight))
    if not bool(jnp.all(model.converged)):
        bad = np.flatnonzero(~np.asarray(model.converged)).tolist()
        warnings.warn(
            f"OSVR did not reach its tolerance for AU columns {bad} (relative gaps "
            f"{np.asarray(model.gap / model.primal)[bad]}).",
            RuntimeWarning,
            stacklevel=3,
        )
    return np.asarray(model.coef), np.asarray(model.intercept)


def fit_parameter_judges(
    x: Float[ArrayLike, "n d"],
    y: ArrayLike,
    *,
    kind: Literal["svr", "osvr"] = "svr",
    sequence: ArrayLike | None = None,
    label_mask: ArrayLike | None = None,
    aus: Sequence[int] | None = None,
    c: float = 1.0,
    epsilon: float = 0.1,
    c_ordinal: float = 1.0,
    max_gap: int | None = 10,
    max_iter: int = 100_000,
    svr_solver: Literal["sklearn", "jax"] = "sklearn",
) -> LinearJudge:
    """Trains the per-AU parameter judges of Table 1 on real expression parameters.

    Args:
        x: (n, d) expression parameters of the training frames (section 4.3: 30 % of the
            non-neutral training frames, :func:`judge_training_rows`).
        y: (n, K) AU intensities 0-5 (or (n,) for one AU); 9 and NaN are not coded (left out).
        kind: ``"svr"`` (``sklearn.svm.LinearSVR``) or ``"osvr"`` (:func:`aujax.train.fit_osvr`).
        sequence: (n,) sequence ids, required for ``"osvr"`` (rows of a sequence in temporal
            order; pairs never cross sequences).
        label_mask: optional (n, K) or (n,) bool, extra labels to leave out (False).
        aus: the AU numbers of the K columns (kept on the judge for tables).
        c: ``C`` of both kinds (> 0).
        epsilon: the epsilon-insensitive width, in intensity levels.
        c_ordinal: OSVR's ``C_o`` (ignored by ``"svr"``).
        max_gap: OSVR pairs are at most this many training rows apart (None: any distance).
        max_iter: liblinear's iteration limit (``"svr"``).
        svr_solver: ``"sklearn"`` (liblinear, the issue's choice) or ``"jax"``
            (:func:`aujax.train.fit_osvr` with ``C_o = 0``: the same optimum, all AUs in one
            vmap; measured 3000 x 79 x 12 AUs: liblinear about 4 s per AU to its ``tol = 1e-4``
            (40k iterations), the JAX solver about 20 s for all 12 to a 1e-10 gap).

    Returns:
        :class:`LinearJudge` with K outputs.

    Raises:
        ValueError: malformed shapes, non-finite features, labels outside 0-5 (other than 9 /
            NaN), an AU without any labelled frame, a bad ``kind`` or hyper-parameter, or
            ``"osvr"`` without ``sequence``.
    """
    x = _features("x", x)
    y, mask = _labels(y, label_mask, x.shape[0])
    return _fit_linear(x, y, mask, kind=kind, sequence=sequence, c=float(c),
                       epsilon=float(epsilon), c_ordinal=float(c_ordinal), max_gap=max_gap,
                       aus=aus, max_iter=max_iter, svr_solver=svr_solver)  # fmt: skip


def _levels(pred: Array, levels: str) -> Array:
    if levels == "clip":
        return jnp.clip(pred, 0, MAX_INTENSITY)
    if levels == "round":
        return jnp.clip(jnp.round(pred), 0, MAX_INTENSITY)
    return pred


def judge_predictions(
    judge: LinearJudge, x: Float[ArrayLike, "n d"], *, levels: str = "clip"
) -> Float[Array, "n K"]:
    """AU intensities a parameter judge gives expression parameters (real or generated).

    Args:
        judge: a fitted :class:`LinearJudge`.
        x: (n, d) expression parameters.
        levels: ``"clip"`` (to [0, 5], default), ``"round"`` (to the six levels) or ``"none"``
            (see the module docstring for why clipping is the default).

    Returns:
        (n, K) intensities.
    """
    if levels not in LEVELS:
        raise ValueError(f"levels must be one of {LEVELS}, got {levels!r}.")
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, {judge.n_features}), got shape {x.shape}.")
    if not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError("x contains NaN or inf values.")
    return _levels(judge.predict(x), levels)


def judge_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, *, aus: Sequence[int] | None = None
) -> dict:
    """Table 1 / Table 2 metrics: MAE and MSE per AU and their means over AUs, plus ICC(3,1).

    Per AU over the frames with a coded label (9 and NaN left out), by
    :func:`aujax.train.intensity_metrics`; the means are over the AUs that have frames.

    Args:
        y_true: (n, K) ground-truth intensities 0-5 (9 / NaN: not coded).
        y_pred: (n, K) predictions (:func:`judge_predictions`).
        aus: optional AU numbers, returned as ``"aus"``.

    Returns:
        ``{"mae", "mse", "icc"}``: (K,) float64 arrays; ``{"mae_mean", "mse_mean",
        "icc_mean"}``: floats; ``"aus"``: tuple.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have one shape.")
    m = intensity_metrics(y_true, y_pred)
    out = {k: m[k] for k in ("mae", "mse", "icc")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (no frames)
        for k in ("mae", "mse", "icc"):
            out[f"{k}_mean"] = float(np.nanmean(m[k])) if np.any(np.isfinite(m[k])) else np.nan
    out["aus"] = tuple(aus) if aus is not None else ()
    return out


# ------------------------------------------------------------------------------- image judge


@functools.partial(jax.jit, static_argnames=("kwargs",))
def _hog_batch(gray: Array, kwargs: tuple) -> Array:
    return jax.vmap(lambda g: hog(g, **dict(kwargs)))(gray)


def crop_features(crops: ArrayLike, *, layout: HogLayout | None = None) -> Float[Array, "n F"]:
    """HOG features of aligned face crops (the image judge's input).

    Args:
        crops: (n, S, S) grayscale or (n, S, S, 3) RGB (or (n, S, S, 1)) square crops; uint8
            (0-255) or float (0-1).
        layout: the :class:`HogLayout` (default ``HogLayout()``).

    Returns:
        (n, F) float32 features, ``F = layout.size(S)``.
    """
    layout = HogLayout() if layout is None else layout
    c = np.asarray(crops)
    if c.ndim == 4 and c.shape[-1] in (1, 3):
        pass
    elif c.ndim == 3:
        c = c[..., None]
    else:
        raise ValueError(
            f"crops must have shape (n, S, S), (n, S, S, 1) or (n, S, S, 3), got {c.shape}."
        )
    if c.shape[0] < 1 or c.shape[1] != c.shape[2]:
        raise ValueError(f"crops must be at least one square crop, got shape {c.shape}.")
    if c.dtype == np.uint8:
        c = c.astype(np.float32) / 255.0
    elif np.issubdtype(c.dtype, np.floating):
        c = c.astype(np.float32)
        if not np.all(np.isfinite(c)):
            raise ValueError("crops contain NaN or inf values.")
    else:
        raise ValueError(f"crops must be uint8 or float, got dtype {c.dtype}.")
    gray = c[..., 0] if c.shape[-1] == 1 else c @ np.asarray(_GRAY, np.float32)
    kwargs = tuple(sorted(layout.hog_kwargs(c.shape[1]).items()))
    out = []
    for i in range(0, gray.shape[0], _HOG_CHUNK):
        chunk = gray[i : i + _HOG_CHUNK]
        size = max(8, 1 << (chunk.shape[0] - 1).bit_length())  # few compiled batch sizes
        padded = np.concatenate([chunk, np.zeros((size - chunk.shape[0],) + chunk.shape[1:],
                                                 chunk.dtype)])  # fmt: skip
        out.append(_hog_batch(jnp.asarray(padded), kwargs)[: chunk.shape[0]])
    return jnp.concatenate(out, axis=0)


def person_median_features(
    features: Float[ArrayLike, "n F"], subjects: ArrayLike
) -> Float[np.ndarray, "n F"]:
    """OpenFace's person-specific normalisation: each row minus its subject's median row.

    Baltrušaitis et al. (FG 2015) subtract the person's (video's) median HOG descriptor from each
    frame's, so a per-person constant (identity, light, pose) leaves the features; the image
    judge of Table 2 with ``normalise="person_median"`` (module docstring). The median is
    elementwise over all the rows of the subject given here (:func:`aujax.train.person_quantile`
    at 50: the mean of the two middle values for an even count).

    Args:
        features: (n, F) real features (HOG, :func:`crop_features`).
        subjects: (n,) the subject (person / video) of each row; any hashable values that numpy
            can sort (str or int IDs).

    Returns:
        (n, F) float64 features, each subject's rows with that subject's median subtracted
        (a subject with one row gets zeros).

    Raises:
        ValueError: ``features`` not (n, F) of finite reals, or ``subjects`` not of shape (n,).
    """
    x = np.asarray(features)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"features must hold real numbers, got dtype {x.dtype}.")
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"features must have shape (n, F) with n >= 1, got shape {x.shape}.")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or inf values.")
    return x - person_quantile(x, subjects, quantile=50.0)


def _normalised(features, normalise: str, subjects, name: str) -> np.ndarray:
    """The image judge's features after its normalisation (``subjects`` needed for a median)."""
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {normalise!r}.")
    if normalise == "none":
        return np.asarray(features, np.float64)
    if subjects is None:
        raise ValueError(
            f"subjects is required with normalise='person_median' ({name}): the subject of "
            "every crop, whose median HOG is subtracted."
        )
    return person_median_features(features, subjects)


def fit_image_judge(
    crops: ArrayLike,
    labels: ArrayLike,
    *,
    layout: HogLayout | None = None,
    kind: Literal["svr", "osvr"] = "svr",
    sequence: ArrayLike | None = None,
    label_mask: ArrayLike | None = None,
    aus: Sequence[int] | None = None,
    c: float = 0.1,
    epsilon: float = 0.1,
    c_ordinal: float = 1.0,
    max_gap: int | None = 10,
    max_iter: int = 100_000,
    svr_solver: Literal["sklearn", "jax"] = "sklearn",
    normalise: Literal["none", "person_median"] = "none",
    subjects: ArrayLike | None = None,
) -> ImageJudge:
    """Trains the image judge of Table 2 (HOG + per-AU linear SVR) on real face crops.

    Args:
        crops: (n, S, S[, C]) aligned face crops (:func:`crop_features`).
        labels: (n, K) AU intensities 0-5 (9 / NaN: not coded).
        layout: the HOG layout (default :class:`HogLayout`, see the module docstring).
        kind, sequence, label_mask, aus, c, epsilon, c_ordinal, max_gap, max_iter, svr_solver: as
            :func:`fit_parameter_judges` (``"svr"``, OpenFace's kind, by default; ``"osvr"``
            costs O(F^2) per pair and frame with F = 1764 HOG features).
        normalise: ``"none"`` (default: the HOG as it is, ``subjects`` ignored) or
            ``"person_median"``: each crop's HOG minus the median HOG of its subject's crops
            among these ``n`` (:func:`person_median_features`, OpenFace's person-specific
            normalisation), before the standardisation.
        subjects: (n,) the subject of each crop; required with ``"person_median"``.

    Returns:
        :class:`ImageJudge` (its ``normalise`` recorded for :func:`image_judge_predict`).
    """
    layout = HogLayout() if layout is None else layout
    features = crop_features(crops, layout=layout)
    x = _features("crops' HOG features",
                  _normalised(features, normalise, subjects, "fit_image_judge"))  # fmt: skip
    y, mask = _labels(labels, label_mask, x.shape[0])
    regressor = _fit_linear(x, y, mask, kind=kind, sequence=sequence, c=float(c),
                            epsilon=float(epsilon), c_ordinal=float(c_ordinal), max_gap=max_gap,
                            aus=aus, max_iter=max_iter, svr_solver=svr_solver)  # fmt: skip
    return ImageJudge(regressor=regressor, layout=layout, side=int(np.shape(crops)[1]),
                      normalise=normalise)  # fmt: skip


def image_judge_predict(
    judge: ImageJudge, crops: ArrayLike, *, levels: str = "clip", subjects: ArrayLike | None = None
) -> Float[Array, "n K"]:
    """AU intensities the image judge gives face crops (real frames or renders).

    Args:
        judge: a fitted :class:`ImageJudge`.
        crops: (n, S, S[, C]) crops of the side it was trained on.
        levels: as :func:`judge_predictions`.
        subjects: (n,) the subject of each crop; required when the judge was trained with
            ``normalise="person_median"`` (ignored otherwise). The median subtracted is over each
            subject's crops **in this call**: pass all of a subject's crops of one kind together
            (e.g. all of a generator's renders of one test subject), not one crop at a time (a
            lone crop's features become all zeros).

    Returns:
        (n, K) intensities.
    """
    side = np.shape(crops)[1] if np.ndim(crops) >= 3 else None
    if side != judge.side:
        raise ValueError(
            f"crops must be {judge.side} x {judge.side} like the judge's training crops, got "
            f"shape {np.shape(crops)}."
        )
    features = crop_features(crops, layout=judge.layout)
    x = _normalised(features, judge.normalise, subjects, "image_judge_predict")
    return judge_predictions(judge.regressor, x, levels=levels)
