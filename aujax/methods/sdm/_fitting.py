r"""Landmark fitting of the bilinear model (seed 004, eqs. 4, 6 and 7): the cascade's initialisation.

The projection of model vertex ``i`` (eqs. 3-4) is scaled orthographic,

.. math::
    P_i(\alpha, \beta, c) = s\,[R\,v_i(\alpha, \beta)]_{xy} + t_{xy},\qquad
    v_i = C_{r,i} \times_2 \alpha \times_3 \beta,

with the camera ``c = (s, R, t)`` held as a :class:`aujax.geometry.SimilarityTransform` (the
paper's ``A`` is ``s`` times the first two rows of the identity; the depth ``t_z`` is not
observable and stays 0). Eq. 6 solves the camera for fixed weights with the linear solver of
:func:`aujax.geometry.scaled_orthographic_pose` (affine least squares, then orthonormalisation);
eq. 7 solves the weights for a fixed camera:

.. math::
    \min_{\alpha, \beta}\; \frac{1}{D} \sum_{i \in L} w_i \|l_i - P_i(\alpha, \beta, c)\|^2
    + \lambda_1 (\alpha - \mu_\alpha)^\top Q_\alpha (\alpha - \mu_\alpha)
    + \lambda_2 (\beta - \mu_\beta)^\top Q_\beta (\beta - \mu_\beta).

Where the paper is silent (choices of this implementation):

- **Normalisation.** The data term is divided by ``D``, the weighted mean squared distance of the
  observed landmarks from their centroid (their spread in the image; the weights are used as
  given, not normalised). The lambdas are then dimensionless and do not depend on the image
  resolution, the face's size in the image or the model's length unit: with landmark noise of
  standard deviation ``sigma`` per coordinate and unit weights, the MAP estimate (Gaussian noise,
  Gaussian weight priors) is ``lambda_1 = lambda_2 = sigma^2 / D``. It is eq. 7 (with the norm
  squared: a least-squares fit) with ``lambda_k <- lambda_k D``.
- **Defaults** ``lambda_id = lambda_exp = 1e-4`` (:data:`DEFAULT_LAMBDA_ID`,
  :data:`DEFAULT_LAMBDA_EXP`): the MAP value for landmark noise of 1 % of the landmarks' spread
  ``sqrt(D)`` (a good detector on a frontal face; model error adds to it). On a template-based
  model (40 subjects x 15 expressions, 20 x 10 modes, 68 landmarks) the 3D error after a
  similarity alignment was smallest at 1e-4 for noise of 0.5-1 % and at 1e-3 for 2 % (0 and 1e-5:
  2-3x larger); ``test_default_priors_beat_no_priors_under_detector_noise`` keeps a seeded
  version. The experiment's config exposes both.
- **Alternation.** The problem is bilinear in ``(alpha, beta)``: each iteration solves the camera
  (eq. 6), then ``alpha`` for fixed ``beta`` and camera, then ``beta`` for fixed ``alpha`` and
  camera, each weight sub-problem a ridge-like linear system in closed form. The linear camera
  solver does not minimise the projection error exactly, so its camera is kept only when it does
  not increase the objective: the objective never increases (``FitResult.objective``).
- **Missing landmarks.** A landmark with a non-finite coordinate gets weight 0 (a detector's
  failure), inside jit as well.

Everything is pure jnp: :func:`fit_landmarks` jits (``n_iterations`` static) and vmaps over images
(``jax.vmap(fit_landmarks, in_axes=(None, 0, None))`` with the keywords bound).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float, Int

from ..._checks import is_concrete
from ...face import BilinearModel
from ...geometry import (
    SimilarityTransform,
    scaled_orthographic_pose,
    scaled_orthographic_project,
)


__all__ = [
    "DEFAULT_LAMBDA_EXP",
    "DEFAULT_LAMBDA_ID",
    "FitResult",
    "fit_camera",
    "fit_landmarks",
    "landmark_objective",
    "project_model",
]

#: Default ``lambda_1`` of eq. 7 (identity prior), for the normalised data term (module docstring).
DEFAULT_LAMBDA_ID = 1e-4
#: Default ``lambda_2`` of eq. 7 (expression prior).
DEFAULT_LAMBDA_EXP = 1e-4


@struct.dataclass
class FitResult:
    """The landmark fit of one image (leading batch axes when vmapped).

    Attributes:
        w_id: (n_id,) identity weights ``alpha``.
        w_exp: (n_exp,) expression weights ``beta``.
        camera: the scaled-orthographic camera ``c`` (``s``, ``R``, ``t`` with ``t_z = 0``).
        residual: (n_iterations,) weighted RMS landmark reprojection error after each iteration,
            in image units: ``sqrt(sum_i w_i |l_i - P_i|^2 / sum_i w_i)``.
        objective: (n_iterations,) the normalised eq. 7 after each iteration (non-increasing).
    """

    w_id: Float[Array, " n_id"]
    w_exp: Float[Array, " n_exp"]
    camera: SimilarityTransform
    residual: Float[Array, " n_iterations"]
    objective: Float[Array, " n_iterations"]


def project_model(
    model: BilinearModel,
    w_id: Float[ArrayLike, " n_id"],
    w_exp: Float[ArrayLike, " n_exp"],
    camera: SimilarityTransform,
    landmark_vertices: Int[ArrayLike, " L"],
) -> Float[Array, "L 2"]:
    r"""``P_i(g, c)``: the image of model vertices under the camera (seed 004, eqs. 3-4).

    .. math::
        P_i = s\,[R\,(C_{r,i} \times_2 \alpha \times_3 \beta)]_{xy} + t_{xy}

    Args:
        model: the bilinear model.
        w_id: (n_id,) identity weights.
        w_exp: (n_exp,) expression weights.
        camera: scaled-orthographic camera (scale ``s`` > 0, rotation ``R``, translation ``t``).
        landmark_vertices: (L,) model vertex indices.

    Returns:
        (L, 2) image coordinates.
    """
    v = model.vertices(jnp.asarray(w_id), jnp.asarray(w_exp), indices=landmark_vertices)
    return scaled_orthographic_project(
        v, scale=camera.scale, rotation=camera.rotation, translation=camera.translation[:2]
    )


def fit_camera(
    model: BilinearModel,
    w_id: Float[ArrayLike, " n_id"],
    w_exp: Float[ArrayLike, " n_exp"],
    landmarks2d: Float[ArrayLike, "L 2"],
    landmark_vertices: Int[ArrayLike, " L"],
    *,
    weights: Float[ArrayLike, " L"] | None = None,
) -> SimilarityTransform:
    """The camera of fixed model weights from the landmarks (seed 004, eq. 6, the "linear solver").

    :func:`aujax.geometry.scaled_orthographic_pose` on the model's landmark vertices: affine least
    squares, then the closest scaled-orthographic camera. Also the camera update of Algorithm 1,
    line 6 (after each cascade stage).

    Args:
        model: the bilinear model.
        w_id: (n_id,) identity weights (eq. 6: the mean ``mu_alpha``).
        w_exp: (n_exp,) expression weights (eq. 6: the mean ``mu_beta``).
        landmarks2d: (L, 2) image landmarks ``l``, finite where ``weights`` > 0.
        landmark_vertices: (L,) model vertex of each landmark; at least 4 with positive weight,
            not coplanar.
        weights: optional (L,) non-negative landmark weights (0 drops a landmark).

    Returns:
        The :class:`aujax.geometry.SimilarityTransform` ``(s, R, t)``, ``t_z = 0``.
    """
    pts, idx, w = _prepare(model, landmarks2d, landmark_vertices, weights)
    return _camera(model, jnp.asarray(w_id, pts.dtype), jnp.asarray(w_exp, pts.dtype), pts, idx, w)


def landmark_objective(
    model: BilinearModel,
    w_id: Float[ArrayLike, " n_id"],
    w_exp: Float[ArrayLike, " n_exp"],
    camera: SimilarityTransform,
    landmarks2d: Float[ArrayLike, "L 2"],
    landmark_vertices: Int[ArrayLike, " L"],
    *,
    lambda_id: float = DEFAULT_LAMBDA_ID,
    lambda_exp: float = DEFAULT_LAMBDA_EXP,
    weights: Float[ArrayLike, " L"] | None = None,
) -> Float[Array, ""]:
    """The normalised eq. 7 of seed 004 at given weights and camera (see the module docstring).

    Args:
        model, w_id, w_exp, camera, landmarks2d, landmark_vertices, weights: as
            :func:`fit_landmarks` and :func:`project_model`.
        lambda_id: ``lambda_1`` (identity prior).
        lambda_exp: ``lambda_2`` (expression prior).

    Returns:
        () the objective.
    """
    pts, idx, w = _prepare(model, landmarks2d, landmark_vertices, weights)
    w_id, w_exp = jnp.asarray(w_id, pts.dtype), jnp.asarray(w_exp, pts.dtype)
    lam_id, lam_exp = _check_lambdas(lambda_id, lambda_exp, pts.dtype)
    return _objective(model, w_id, w_exp, camera, pts, idx, w, _spread(pts, w), lam_id, lam_exp)[0]


def fit_landmarks(
    model: BilinearModel,
    landmarks2d: Float[ArrayLike, "L 2"],
    landmark_vertices: Int[ArrayLike, " L"],
    *,
    n_iterations: int = 20,
    lambda_id: float = DEFAULT_LAMBDA_ID,
    lambda_exp: float = DEFAULT_LAMBDA_EXP,
    weights: Float[ArrayLike, " L"] | None = None,
    init: tuple[Float[ArrayLike, " n_id"], Float[ArrayLike, " n_exp"]] | None = None,
) -> FitResult:
    r"""Fits identity, expression and camera to 2D landmarks (seed 004, eqs. 6-7).

    Starts from the prior means (or ``init``), solves the camera there (eq. 6), then alternates
    ``n_iterations`` times: camera (eq. 6, kept when it does not increase the objective), identity
    weights, expression weights (eq. 7, each in closed form):

    .. math::
        \alpha \leftarrow \Big(\sum_i w_i J_i^\top J_i + \lambda_1 D Q_\alpha\Big)^{-1}
        \Big(\sum_i w_i J_i^\top (l_i - t_{xy}) + \lambda_1 D Q_\alpha \mu_\alpha\Big),
        \qquad J_i = s\,R_{xy}\,(C_{r,i} \times_3 \beta)

    (the same for ``beta`` with ``C_{r,i} x_2 alpha``).

    Args:
        model: the bilinear model (its priors ``mu``, ``Q = diag(1 / var)``).
        landmarks2d: (L, 2) image landmarks ``l`` (any image units, any y direction: the rotation
            takes care of a y-down image); non-finite rows are ignored (weight 0).
        landmark_vertices: (L,) model vertex index of each landmark (values checked when
            concrete).
        n_iterations: alternations (static), >= 1.
        lambda_id: ``lambda_1`` >= 0 of eq. 7, dimensionless (module docstring); 0 needs enough
            landmarks for the weights to be determined.
        lambda_exp: ``lambda_2`` >= 0 of eq. 7.
        weights: optional (L,) non-negative landmark weights (0 drops a landmark); at least 4
            positive, on non-coplanar model vertices.
        init: optional ``(w_id, w_exp)`` start (default the prior means, as eq. 6).

    Returns:
        :class:`FitResult` (weights, camera, per-iteration residual and objective).

    Raises:
        ValueError: wrong shapes, indices out of range, invalid weights, negative lambdas or a
            bad ``n_iterations`` (value checks only on concrete inputs).
    """
    if isinstance(n_iterations, bool) or not isinstance(n_iterations, int | np.integer):
        raise ValueError(f"n_iterations must be an int, got {n_iterations!r}.")
    if n_iterations < 1:
        raise ValueError(f"n_iterations must be >= 1, got {n_iterations}.")
    pts, idx, w = _prepare(model, landmarks2d, landmark_vertices, weights)
    lam_id, lam_exp = _check_lambdas(lambda_id, lambda_exp, pts.dtype)
    if init is None:
        w_id, w_exp = model.id_mean.astype(pts.dtype), model.exp_mean.astype(pts.dtype)
    else:
        w_id, w_exp = (jnp.asarray(x, pts.dtype) for x in init)
        if w_id.shape != (model.n_id,) or w_exp.shape != (model.n_exp,):
            raise ValueError(
                f"init must be (w_id ({model.n_id},), w_exp ({model.n_exp},)), "
                f"got shapes {w_id.shape} and {w_exp.shape}."
            )
    return _fit(model, pts, idx, w, lam_id, lam_exp, w_id, w_exp, n_iterations=int(n_iterations))


@functools.partial(jax.jit, static_argnames="n_iterations")
def _fit(model, pts, idx, w, lam_id, lam_exp, w_id, w_exp, *, n_iterations):
    """The alternation of :func:`fit_landmarks` on validated inputs (jitted once per shape)."""
    spread = _spread(pts, w)
    prec_id = 1.0 / model.id_var.astype(pts.dtype)
    prec_exp = 1.0 / model.exp_var.astype(pts.dtype)
    mu_id, mu_exp = model.id_mean.astype(pts.dtype), model.exp_mean.astype(pts.dtype)
    sub_core = model.core[idx].astype(pts.dtype)  # (L, 3, n_id, n_exp)

    def objective(a, b, cam):
        return _objective(model, a, b, cam, pts, idx, w, spread, lam_id, lam_exp)

    def step(state, _):
        a, b, cam, value = state
        # eq. 6, kept only when it does not increase eq. 7
        new_cam = _camera(model, a, b, pts, idx, w)
        keep = objective(a, b, new_cam)[0] <= value
        cam = jax.tree.map(lambda n, o: jnp.where(keep, n, o), new_cam, cam)
        # eq. 7 in alpha, then in beta
        basis = jnp.einsum("lcie,e->lci", sub_core, b)
        a = _solve_block(basis, cam, pts, w, spread, lam_id, prec_id, mu_id)
        basis = jnp.einsum("lcie,i->lce", sub_core, a)
        b = _solve_block(basis, cam, pts, w, spread, lam_exp, prec_exp, mu_exp)
        value, residual = objective(a, b, cam)
        return (a, b, cam, value), (residual, value)

    cam0 = _camera(model, w_id, w_exp, pts, idx, w)
    value0 = objective(w_id, w_exp, cam0)[0]
    (w_id, w_exp, cam, _), (residual, value) = jax.lax.scan(
        step, (w_id, w_exp, cam0, value0), None, length=n_iterations
    )
    return FitResult(w_id=w_id, w_exp=w_exp, camera=cam, residual=residual, objective=value)


def _prepare(model, landmarks2d, landmark_vertices, weights):
    """Validates the landmark problem; zero weight (and a finite placeholder) for missing rows."""
    pts = jnp.asarray(landmarks2d).astype(model.core.dtype)  # the model's dtype throughout
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"landmarks2d must have shape (L, 2), got {pts.shape}.")
    n = pts.shape[0]
    idx = jnp.asarray(landmark_vertices)
    if idx.shape != (n,) or not jnp.issubdtype(idx.dtype, jnp.integer):
        raise ValueError(
            f"landmark_vertices must be ({n},) integer vertex indices (one per landmark), got "
            f"{idx.dtype} {idx.shape}."
        )
    if n < 4:
        raise ValueError(f"landmarks2d must hold at least 4 landmarks for the camera, got {n}.")
    if is_concrete(idx) and (
        int(np.min(np.asarray(idx))) < 0 or int(np.max(np.asarray(idx))) >= model.n_vertices
    ):
        raise ValueError(f"landmark_vertices must lie in 0..{model.n_vertices - 1}.")
    if weights is None:
        w = jnp.ones(n, pts.dtype)
    else:
        w = jnp.asarray(weights, pts.dtype)
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {w.shape}.")
        if is_concrete(w):
            wn = np.asarray(w)
            if not (np.all(np.isfinite(wn)) and np.all(wn >= 0)):
                raise ValueError("weights must be finite and non-negative.")
    finite = jnp.all(jnp.isfinite(pts), axis=1)
    w = jnp.where(finite, w, jnp.zeros_like(w))
    if is_concrete(w) and int(np.sum(np.asarray(w) > 0)) < 4:
        raise ValueError(
            "at least 4 landmarks need a positive weight and finite coordinates for the camera."
        )
    pts = jnp.where(finite[:, None], pts, jnp.zeros_like(pts))
    return pts, idx, w


def _check_lambdas(lambda_id, lambda_exp, dtype):
    out = []
    for name, value in (("lambda_id", lambda_id), ("lambda_exp", lambda_exp)):
        value = jnp.asarray(value, dtype)
        if value.shape != ():
            raise ValueError(f"{name} must be a scalar, got shape {value.shape}.")
        if is_concrete(value) and not (np.isfinite(float(value)) and float(value) >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {float(value)}.")
        out.append(value)
    return tuple(out)


def _spread(pts, w):
    """``D``: weighted mean squared distance of the landmarks from their centroid."""
    wn = w / jnp.sum(w)
    centre = wn @ pts
    return jnp.sum(wn * jnp.sum(jnp.square(pts - centre[None, :]), axis=1))


@jax.jit
def _camera(model, w_id, w_exp, pts, idx, w):
    return scaled_orthographic_pose(model.vertices(w_id, w_exp, indices=idx), pts, weights=w)


@jax.jit
def _objective(model, a, b, cam, pts, idx, w, spread, lam_id, lam_exp):
    """(normalised eq. 7, weighted RMS residual in image units)."""
    r2 = w * jnp.sum(jnp.square(pts - project_model(model, a, b, cam, idx)), axis=1)
    da, db = a - model.id_mean.astype(a.dtype), b - model.exp_mean.astype(b.dtype)
    prior = lam_id * jnp.sum(da * da / model.id_var.astype(a.dtype)) + lam_exp * jnp.sum(
        db * db / model.exp_var.astype(b.dtype)
    )
    return jnp.sum(r2) / spread + prior, jnp.sqrt(jnp.sum(r2) / jnp.sum(w))


def _solve_block(basis, cam, pts, w, spread, lam, prec, mu):
    """Closed-form minimiser of eq. 7 in one weight vector (the other one inside ``basis``).

    ``basis`` (L, 3, k): model vertices linear in the unknown ``x`` (k,). The data term is
    ``sum_i w_i |l_i - t - J_i x|^2 / D`` with ``J_i = s R_xy basis_i`` (2, k).
    """
    jac = cam.scale * jnp.einsum("dc,lck->ldk", cam.rotation[:2], basis)  # (L, 2, k)
    return _ridge_block(jac, pts - cam.translation[None, :2], w, spread, lam, prec, mu)


def _ridge_block(jac, target, w, spread, lam, prec, mu, *, xp=jnp):
    r"""``argmin_x sum_i w_i |target_i - J_i x|^2 / D + lam (x - mu)^T diag(prec) (x - mu)``.

    Shared by the 2D landmark fit (``J_i`` projected, d = 2) and the 3D scan fit (d = 3).

    Args:
        jac: (n, d, k) per-point Jacobians ``J_i``.
        target: (n, d) targets.
        w: (n,) non-negative point weights.
        spread: () the normalisation ``D`` > 0.
        lam: () prior weight >= 0.
        prec: (k,) prior precisions ``1 / var``.
        mu: (k,) prior means.
        xp: the array module, ``jax.numpy`` (jit) or ``numpy`` (host code of varying shapes).

    Returns:
        (k,) the minimiser (normal equations, ``xp.linalg.solve``).
    """
    lhs = xp.einsum("l,ldk,ldj->kj", w, jac, jac) / spread + xp.diag(lam * prec)
    rhs = xp.einsum("l,ldk,ld->k", w, jac, target) / spread + lam * prec * mu
    return xp.linalg.solve(lhs, rhs)
