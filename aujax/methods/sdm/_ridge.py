r"""Ridge regression, the linear regressor of each cascade stage (seed 004, eq. 13).

Closed form, several outputs at once: for features ``X`` (N, F) and targets ``Y`` (N, P),

.. math::
    W^*, b^* = \arg\min_{W, b} \|Y - X W - \mathbf{1} b^\top\|_F^2 + \alpha \|W\|_F^2 ,

the intercept ``b`` unpenalised (``fit_intercept=True``: ``X`` and ``Y`` are centred, and
``b = \bar y - W^\top \bar x``), exactly the problem of ``sklearn.linear_model.Ridge``. With
``standardize=True`` the columns of ``X`` are divided by their standard deviation (ddof 0;
constant columns by 1) before the fit, which is ``StandardScaler`` followed by ``Ridge``: the
penalty is on the standardised weights. The scaling is folded back into ``coef`` and
``intercept``, so :meth:`RidgeRegressor.predict` is one affine map of the raw features.

Solvers (:data:`SOLVERS`):

* ``"cholesky"``: the normal equations in the smaller dimension, by a Cholesky factorisation:
  ``(X^T X + \alpha I_F) W = X^T Y`` when ``F <= N`` (primal), else
  ``W = X^T (X X^T + \alpha I_N)^{-1} Y`` (dual, the same solution by the push-through identity);
* ``"svd"``: ``X = U S V^T``, ``W = V \operatorname{diag}(s / (s^2 + \alpha)) U^T Y``; one SVD
  serves every ``alpha`` (see :func:`choose_alpha`).

Everything is jit-compatible (``alpha`` may be traced; the flags and the solver are static).
"""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float

from ..._checks import check_finite, check_scalar_positive


__all__ = ["SOLVERS", "AlphaChoice", "RidgeRegressor", "choose_alpha", "fit_ridge"]

SOLVERS: tuple[str, ...] = ("cholesky", "svd")
Solver = Literal["cholesky", "svd"]


@struct.dataclass
class RidgeRegressor:
    """A fitted ridge regressor: ``y = x @ coef + intercept``.

    Attributes:
        coef: (F, P) weights on the raw (unstandardised) features.
        intercept: (P,) intercept (zeros when fitted without one).
        alpha: () the regularisation strength it was fitted with.
        penalty: () the penalty term of the fit, ``alpha * ||W||^2`` of the weights it penalised
            (the standardised ones with ``standardize=True``): the ridge objective at the optimum
            is the training residual sum of squares plus ``penalty``.
    """

    coef: Float[Array, "F P"]
    intercept: Float[Array, " P"]
    alpha: Float[Array, ""]
    penalty: Float[Array, ""]

    @property
    def n_features(self) -> int:
        return self.coef.shape[-2]

    @property
    def n_targets(self) -> int:
        return self.coef.shape[-1]

    def predict(self, x: Float[ArrayLike, "*batch F"]) -> Float[Array, "*batch P"]:
        """Predicts the targets of one feature vector (F,) or of rows (N, F)."""
        x = jnp.asarray(x)
        if x.shape[-1:] != self.coef.shape[-2:-1]:
            raise ValueError(
                f"x must have {self.n_features} features in its last axis, got shape {x.shape}."
            )
        return x @ self.coef + jnp.broadcast_to(self.intercept, x.shape[:-1] + self.intercept.shape)

    @classmethod
    def zeros(cls, n_features: int, n_targets: int, dtype=None) -> "RidgeRegressor":
        """The regressor that predicts 0 everywhere (the "no update" stage of a cascade)."""
        dtype = jnp.zeros((), dtype=dtype if dtype is not None else float).dtype
        return cls(
            coef=jnp.zeros((n_features, n_targets), dtype),
            intercept=jnp.zeros((n_targets,), dtype),
            alpha=jnp.zeros((), dtype),
            penalty=jnp.zeros((), dtype),
        )


class AlphaChoice(NamedTuple):
    """The result of :func:`choose_alpha`.

    Attributes:
        alpha: the candidate with the smallest held-out error (the first one on ties).
        alphas: (A,) the candidates, in the order given.
        errors: (A,) held-out mean squared error of each candidate (mean over rows and targets).
    """

    alpha: float
    alphas: np.ndarray
    errors: np.ndarray


def _check_xy(x, y, x_name: str, y_name: str):
    x = jnp.asarray(x)
    y = jnp.asarray(y)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim != 2:
        raise ValueError(f"{x_name} must have shape (N, F), got shape {x.shape}.")
    if y.ndim not in (1, 2):
        raise ValueError(f"{y_name} must have shape (N, P) or (N,), got shape {y.shape}.")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of rows, got {x.shape[0]} and "
            f"{y.shape[0]}."
        )
    if x.shape[0] < 1:
        raise ValueError(f"{x_name} has no rows.")
    check_finite(x, x_name)
    check_finite(y, y_name)
    return x, y.astype(x.dtype)


def _check_solver(solver: str) -> None:
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")


def _column_scale(x: Float[Array, "N F"], mean: Float[Array, " F"]) -> Float[Array, " F"]:
    """Standard deviation (ddof 0) of each column; 1 for (numerically) constant columns.

    The constant test is ``StandardScaler``'s: ``var <= N eps var + (N eps mean)^2``.
    """
    n = x.shape[0]
    var = jnp.mean(jnp.square(x - mean[None, :]), axis=0)
    eps = jnp.finfo(x.dtype).eps
    constant = var <= n * eps * var + jnp.square(n * eps * mean)
    return jnp.where(constant, jnp.ones_like(var), jnp.sqrt(var))


def _prepare(x, y, fit_intercept: bool, standardize: bool):
    """Centres (if an intercept is fitted) and scales; returns the pieces to undo both."""
    dtype = x.dtype
    if fit_intercept:
        x_mean = jnp.mean(x, axis=0)
        y_mean = jnp.mean(y, axis=0)
    else:
        x_mean = jnp.zeros(x.shape[1], dtype)
        y_mean = jnp.zeros(y.shape[1], dtype)
    if standardize:
        scale = _column_scale(x, jnp.mean(x, axis=0))
    else:
        scale = jnp.ones(x.shape[1], dtype)
    xc = (x - x_mean[None, :]) / scale[None, :]
    yc = y - y_mean[None, :]
    return xc, yc, x_mean, y_mean, scale


def _solve_cholesky(xc, yc, alpha):
    n, f = xc.shape
    if f <= n:
        gram = xc.T @ xc + alpha * jnp.eye(f, dtype=xc.dtype)
        return jsl.cho_solve(jsl.cho_factor(gram, lower=True), xc.T @ yc)
    kernel = xc @ xc.T + alpha * jnp.eye(n, dtype=xc.dtype)
    return xc.T @ jsl.cho_solve(jsl.cho_factor(kernel, lower=True), yc)


def _svd_filter(s, alpha):
    """``s / (s^2 + alpha)`` with the singular values below 1e-15 dropped (as sklearn)."""
    keep = s > 1e-15
    return jnp.where(keep, s / jnp.where(keep, jnp.square(s) + alpha, 1.0), 0.0)


def _solve_svd(xc, yc, alpha):
    u, s, vt = jnp.linalg.svd(xc, full_matrices=False)
    d = _svd_filter(s, alpha)
    return vt.T @ (d[:, None] * (u.T @ yc))


def _finish(w, x_mean, y_mean, scale, alpha, fit_intercept: bool) -> RidgeRegressor:
    coef = w / scale[:, None]
    if fit_intercept:
        intercept = y_mean - x_mean @ coef
    else:
        intercept = jnp.zeros(w.shape[1], w.dtype)
    alpha = jnp.asarray(alpha, w.dtype)
    return RidgeRegressor(
        coef=coef, intercept=intercept, alpha=alpha, penalty=alpha * jnp.sum(jnp.square(w))
    )


def fit_ridge(
    x: Float[ArrayLike, "N F"],
    y: Float[ArrayLike, "N P"],
    *,
    alpha: float | Float[ArrayLike, ""],
    fit_intercept: bool = True,
    standardize: bool = False,
    solver: Solver = "cholesky",
) -> RidgeRegressor:
    r"""Fits a ridge regressor in closed form (the regressor ``R^k`` of seed 004, eq. 13).

    .. math::
        W^*, b^* = \arg\min_{W, b} \sum_{j=1}^N \|y_j - W^\top x_j - b\|^2 + \alpha \|W\|_F^2

    Matches ``sklearn.linear_model.Ridge(alpha, fit_intercept=..., solver=...)`` (and, with
    ``standardize=True``, ``make_pipeline(StandardScaler(with_mean=fit_intercept), Ridge(...))``).

    Args:
        x: (N, F) features.
        y: (N, P) targets, or (N,) for one target (then ``coef`` is (F, 1)).
        alpha: the regularisation strength, > 0 (checked when concrete).
        fit_intercept: fit an unpenalised intercept (centre ``x`` and ``y``).
        standardize: divide the feature columns by their standard deviation (ddof 0, constant
            columns by 1) before the fit; folded back into the returned weights.
        solver: one of :data:`SOLVERS` (see the module docstring). Static.

    Returns:
        :class:`RidgeRegressor` with ``coef`` (F, P) and ``intercept`` (P,) in the input dtype.

    Raises:
        ValueError: wrong shapes, mismatched rows, non-finite values, ``alpha <= 0`` or an
            unknown solver.
    """
    _check_solver(solver)
    x, y = _check_xy(x, y, "x", "y")
    if y.ndim == 1:
        y = y[:, None]
    check_scalar_positive(alpha, "alpha")
    return _fit(
        x,
        y,
        jnp.asarray(alpha, x.dtype),
        fit_intercept=fit_intercept,
        standardize=standardize,
        solver=solver,
    )


@jax.jit(static_argnames=("fit_intercept", "standardize", "solver"))
def _fit(x, y, alpha, *, fit_intercept, standardize, solver):
    xc, yc, x_mean, y_mean, scale = _prepare(x, y, fit_intercept, standardize)
    w = _solve_cholesky(xc, yc, alpha) if solver == "cholesky" else _solve_svd(xc, yc, alpha)
    return _finish(w, x_mean, y_mean, scale, alpha, fit_intercept)


def choose_alpha(
    x: Float[ArrayLike, "N F"],
    y: Float[ArrayLike, "N P"],
    x_val: Float[ArrayLike, "M F"],
    y_val: Float[ArrayLike, "M P"],
    *,
    alphas,
    fit_intercept: bool = True,
    standardize: bool = False,
    solver: Solver = "cholesky",
) -> AlphaChoice:
    """Chooses the ridge strength on held-out data: fit on ``(x, y)``, score on ``(x_val, y_val)``.

    With ``solver="svd"`` one SVD of the training features serves every candidate; with
    ``"cholesky"`` each candidate is a factorisation (vectorised over the candidates).

    Args:
        x, y: (N, F), (N, P) training features and targets.
        x_val, y_val: (M, F), (M, P) held-out features and targets.
        alphas: (A,) positive candidates.
        fit_intercept, standardize, solver: as :func:`fit_ridge`.

    Returns:
        :class:`AlphaChoice`: the best candidate and every candidate's held-out mean squared error.
    """
    _check_solver(solver)
    x, y = _check_xy(x, y, "x", "y")
    x_val, y_val = _check_xy(x_val, y_val, "x_val", "y_val")
    if y.ndim == 1:
        y = y[:, None]
    if y_val.ndim == 1:
        y_val = y_val[:, None]
    if x_val.shape[1] != x.shape[1] or y_val.shape[1] != y.shape[1]:
        raise ValueError(
            f"x_val, y_val must have {x.shape[1]} features and {y.shape[1]} targets like x, y; "
            f"got shapes {x_val.shape} and {y_val.shape}."
        )
    grid = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if grid.size == 0 or not np.all(np.isfinite(grid)) or not np.all(grid > 0):
        raise ValueError(f"alphas must be a non-empty list of finite values > 0, got {alphas!r}.")
    errors = np.asarray(
        _held_out_errors(
            x,
            y,
            x_val.astype(x.dtype),
            y_val.astype(x.dtype),
            jnp.asarray(grid, x.dtype),
            fit_intercept=fit_intercept,
            standardize=standardize,
            solver=solver,
        ),
        dtype=np.float64,
    )
    best = int(np.argmin(errors))
    return AlphaChoice(alpha=float(grid[best]), alphas=grid, errors=errors)


@jax.jit(static_argnames=("fit_intercept", "standardize", "solver"))
def _held_out_errors(x, y, x_val, y_val, alphas, *, fit_intercept, standardize, solver):
    xc, yc, x_mean, y_mean, scale = _prepare(x, y, fit_intercept, standardize)
    if solver == "svd":
        u, s, vt = jnp.linalg.svd(xc, full_matrices=False)
        v_val = ((x_val - x_mean[None, :]) / scale[None, :]) @ vt.T  # (M, r)
        uty = u.T @ yc  # (r, P)

        def error(alpha):
            pred = v_val @ (_svd_filter(s, alpha)[:, None] * uty) + y_mean[None, :]
            return jnp.mean(jnp.square(pred - y_val))

    else:

        def error(alpha):
            w = _solve_cholesky(xc, yc, alpha)
            reg = _finish(w, x_mean, y_mean, scale, alpha, fit_intercept)
            return jnp.mean(jnp.square(reg.predict(x_val) - y_val))

    return jax.lax.map(error, alphas)
