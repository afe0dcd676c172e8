r"""3DMM parameters from DISFA's 2D landmarks (seed 002, section 4.2), and their normalisation.

The paper extracts ``x_id``, ``x_alb`` and ``x_exp`` from every DISFA frame with 3DFaceNet (Guo et
al.), a CNN; here they are fitted to the 66 landmarks of each frame
(:func:`aujax.datasets.read_disfa_sequence`) with the morphable model of eq. 1
(:class:`aujax.face.MorphableModel`, landmarks linear in the coefficients,
:meth:`~aujax.face.MorphableModel.landmark_bases`). Frame ``t`` with landmarks ``q_t`` (L, 2) and a
scaled-orthographic camera ``c_t = (s_t, R_t, t_t)``:

.. math::
    E_t = \frac{1}{D_t} \sum_i w_{ti}\,\big\|q_{ti} - s_t [R_t\,\ell_i(x_{id}, x_{exp,t})]_{xy}
        - t_{t}\big\|^2 + \lambda_{exp}\, x_{exp,t}^\top P_{exp}\, x_{exp,t},
    \qquad \ell = \bar\ell + A^\ell_{id} x_{id} + A^\ell_{exp} x_{exp},

``P = diag(1 / std^2)`` the Mahalanobis prior of the basis' variances and ``D_t`` the landmarks'
spread (their weighted mean squared distance from the centroid), so that the lambdas are
dimensionless: with detector noise ``sigma`` per coordinate the MAP value is ``sigma^2 / D`` (the
normalisation of :mod:`aujax.methods.sdm`'s landmark fit). A landmark with a non-finite coordinate
gets weight 0; a frame with fewer than 4 finite landmarks (a missing DISFA file) is not *valid*.

1. **Identity, once per subject** (:func:`fit_identity`): over the subject's least expressive
   frames (:func:`select_neutral_frames`: the frames whose 2D shape, after a similarity
   alignment, is closest to the subject's median shape, optionally among frames the caller marks
   neutral, e.g. all AU labels 0), jointly ``min sum_k E_k + lambda_id x_id^T P_id x_id`` over the
   shared ``x_id``, one ``x_exp`` and one camera per frame. The cameras start from the linear
   solver :func:`aujax.geometry.scaled_orthographic_pose` (seed 004's eq. 6) on the mean face;
   then Levenberg-Marquardt on everything at once (camera increments: a rotation vector applied
   on the left, the log of the scale, the image translation), the per-frame ``(x_exp, camera)``
   blocks eliminated in each step by their Schur complement (a damped ``n_id x n_id`` system); a
   step is taken only where it lowers the objective. (Alternating the linear camera solver with
   the linear least squares in the coefficients, as :mod:`aujax.methods.sdm` does, converges
   slowly here: the scale trades against the identity's size modes.)
2. **Expressions, per frame** (:func:`fit_expressions`): ``x_id`` fixed, ``min E_t`` by the same
   Levenberg-Marquardt steps in ``(x_exp, camera)`` (for a fixed camera the minimiser is the
   regularised linear least squares ``(H_t + lambda_exp P_exp) x_exp = g_t``); jit +
   ``jax.lax.map`` over frames (vmapped in chunks of 256).
3. **Temporal prior** (the video tracker's, optional, ``temporal = mu > 0``): the expressions of a
   sequence are solved together,

   .. math::
       \min_{x_{exp,1..T}} \sum_t E_t + \mu \sum_{t=1}^{T-1}
           (x_{exp,t+1} - x_{exp,t})^\top P_{exp} (x_{exp,t+1} - x_{exp,t}),

   a first-order (random-walk) smoothness penalty in the prior's metric, dimensionless like the
   lambdas. With the cameras fixed it is a symmetric positive definite block-tridiagonal system,
   solved exactly by block Gaussian elimination (block Thomas with Cholesky factors, ``O(T k^3)``,
   a ``lax.scan``), alternating with the per-frame cameras. The penalty vanishes on a constant
   sequence, so it does not bias one; summing the normal equations over t, the smoothed
   sequence's sum of ``(H_t + lambda P) x_t`` equals the per-frame one's. Frames without
   landmarks get the interpolation of their neighbours (without the prior: ``x_exp = 0``, the
   neutral).

**Defaults, measured** (float32, a model from 25 synthetic FaceWarehouse-like subjects x 47
meshes at 600 vertices: ``n_id = 20`` (the template's identity modes), ``n_exp = 79``; three
DISFA-like tiny subjects x 300 frames, 1 px detector noise; the 3D landmark RMS error after a
per-frame similarity alignment to the ground truth): ``lambda = 1e-4`` (:data:`DEFAULT_LAMBDA_ID`,
:data:`DEFAULT_LAMBDA_EXP`; the MAP value for noise of 1 % of the landmarks' spread, as in
:mod:`aujax.methods.sdm`) 0.151-0.197 cm, reprojection 1.33-1.36 px (the noise gives
``sqrt(2)`` px); ``1e-3`` 0.158-0.206 cm; ``1e-2`` 0.192-0.279 cm. The temporal prior at
``mu = 0.1`` changed the error by at most 0.002 cm there (the per-frame fits are already good on
these frames), so it is off by default (``temporal = 0``).

**Normalisation** (section 4.2: "all extracted 3DMM expression parameters are normalized within
[-1, 1], and the AU labels ... linearly scaled to [-1, 1]"): :class:`ParameterBounds` maps
``[x_lower, x_upper]`` per dimension linearly onto ``[-1, 1]`` (clipping outside). The paper does
not say how the limits are found; here they are robust percentiles (``q`` and ``100 - q``, default
0.5 %) of the **training subjects'** frames only (:meth:`ParameterBounds.fit`), and they are the
``x_lower`` / ``x_upper`` of the range regulariser ``L_R`` (eq. 4). In the normalised space they
are -1 and +1, so ``L_R`` only bites on a generator output that is not squashed into [-1, 1]
(the paper's tanh output layer would make it vanish). AU intensities 0..5 map to ``y / 2.5 - 1``
(:func:`labels_to_unit`).
"""

import functools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ...face import LANDMARK_SCHEMES, MorphableModel
from ...geometry import SimilarityTransform, rotation_from_axis_angle, scaled_orthographic_pose


__all__ = [
    "DEFAULT_LAMBDA_EXP",
    "DEFAULT_LAMBDA_ID",
    "DEFAULT_N_NEUTRAL",
    "MIN_LANDMARKS",
    "ParameterBounds",
    "SubjectParameters",
    "extract_parameters",
    "extract_subject",
    "fit_expressions",
    "fit_identity",
    "labels_to_unit",
    "select_neutral_frames",
    "unit_to_labels",
]

#: Default ``lambda_id`` (identity prior, dimensionless; module docstring).
DEFAULT_LAMBDA_ID = 1e-4
#: Default ``lambda_exp`` (expression prior).
DEFAULT_LAMBDA_EXP = 1e-4
#: Default number of least expressive frames the identity is fitted on.
DEFAULT_N_NEUTRAL = 32
#: A frame needs this many finite landmarks to be fitted.
MIN_LANDMARKS = 4
#: Frames per vmapped chunk of ``jax.lax.map`` (memory: a few (L, 2, n_exp) Jacobians each).
_CHUNK = 256


@struct.dataclass
class SubjectParameters:
    """The 3DMM parameters of one subject's frames (:func:`extract_subject`).

    Attributes:
        x_id: (n_id,) identity coefficients (one per subject).
        x_exp: (T, n_exp) expression coefficients per frame (0 or the temporal interpolation
            where ``valid`` is False).
        camera: per-frame scaled-orthographic cameras, leaves with a leading (T,) axis (scale,
            rotation (T, 3, 3), translation (T, 3) with ``t_z = 0``); model frame -> image.
        residual: (T,) RMS landmark reprojection error per frame, image units; NaN where
            ``valid`` is False.
        valid: (T,) True where the frame had at least :data:`MIN_LANDMARKS` finite landmarks.
        neutral_frames: (K,) the frames the identity was fitted on.
    """

    x_id: Float[Array, " n_id"]
    x_exp: Float[Array, "T n_exp"]
    camera: SimilarityTransform
    residual: Float[Array, " T"]
    valid: Bool[Array, " T"]
    neutral_frames: Int[Array, " K"]


# --------------------------------------------------------------------------------- validation


def _check_landmarks(landmarks, name: str = "landmarks", dtype=None) -> tuple[Array, int]:
    x = jnp.asarray(landmarks)
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    x = x.astype(jnp.result_type(float) if dtype is None else dtype)
    if x.ndim != 3 or x.shape[2] != 2 or x.shape[1] not in LANDMARK_SCHEMES or x.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (T, L, 2), T >= 1, L in {sorted(LANDMARK_SCHEMES)} (DISFA: "
            f"66), got {x.shape}."
        )
    return x, int(x.shape[1])


def _check_lambda(value, name: str, dtype) -> Array:
    v = jnp.asarray(value, dtype)
    if v.shape != () or not (np.isfinite(float(v)) and float(v) >= 0.0):
        raise ValueError(f"{name} must be a finite scalar >= 0, got {value!r}.")
    return v


def _check_iterations(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n_iterations must be an int >= 1, got {n!r}.")
    return int(n)


# ------------------------------------------------------------------------------- frame pieces


def _frame_weights(pts: Array, placeholder: Array):
    """Weights, data and camera inputs of one frame (missing landmarks dropped).

    Returns ``(pts, w, valid, cam_pts, cam_w, spread)``: ``pts`` with non-finite rows zeroed and
    their weight ``w`` 0; a frame with fewer than :data:`MIN_LANDMARKS` finite rows is not
    ``valid`` and its camera is fitted to ``placeholder`` (the model's mean landmarks) instead, so
    that every camera is finite; its data weights stay 0.
    """
    finite = jnp.all(jnp.isfinite(pts), axis=1)
    w = finite.astype(pts.dtype)
    valid = jnp.sum(w) >= MIN_LANDMARKS
    pts = jnp.where(finite[:, None], pts, jnp.zeros_like(pts))
    cam_pts = jnp.where(valid, pts, placeholder)
    cam_w = jnp.where(valid, w, jnp.ones_like(w))
    wn = cam_w / jnp.sum(cam_w)
    centre = wn @ cam_pts
    spread = jnp.sum(wn * jnp.sum(jnp.square(cam_pts - centre[None, :]), axis=1))
    spread = jnp.where(spread > 0, spread, jnp.ones_like(spread))
    return pts, w * valid.astype(pts.dtype), valid, cam_pts, cam_w, spread


def _project(cam: SimilarityTransform, points: Array) -> Array:
    return cam.scale * (points @ cam.rotation[:2].T) + cam.translation[None, :2]


def _data_term(cam, points, pts, w, spread):
    r2 = w * jnp.sum(jnp.square(pts - _project(cam, points)), axis=1)
    return jnp.sum(r2) / spread, jnp.sum(r2)


def _camera(points, cam_pts, cam_w):
    """The linear solver's scaled-orthographic camera (the start of every fit)."""
    return scaled_orthographic_pose(points, cam_pts, weights=cam_w)


def _camera_jacobian(cam: SimilarityTransform, shape: Array) -> Array:
    """(L, 2, 6) derivative of the projection of ``shape`` (L, 3) with respect to the camera
    increment ``(omega, log s, t_x, t_y)``: ``R <- exp([omega]_x) R``, ``s <- s exp(log s)``."""
    rl = shape @ cam.rotation.T  # (L, 3)
    x, y, z = rl[:, 0], rl[:, 1], rl[:, 2]
    zero = jnp.zeros_like(x)
    # d(R l)/d omega = -[R l]_x: its x and y rows
    j_w = cam.scale * jnp.stack([jnp.stack([zero, z, -y], -1), jnp.stack([-z, zero, x], -1)], 1)
    j_s = cam.scale * rl[:, :2, None]
    j_t = jnp.broadcast_to(jnp.eye(2, dtype=shape.dtype)[None], (shape.shape[0], 2, 2))
    return jnp.concatenate([j_w, j_s, j_t], axis=2)


def _step_camera(cam: SimilarityTransform, d: Array) -> SimilarityTransform:
    """The camera after the increment ``d = (omega, log s, t_x, t_y)`` (6,)."""
    return SimilarityTransform(
        scale=cam.scale * jnp.exp(d[3]),
        rotation=rotation_from_axis_angle(d[:3]) @ cam.rotation,
        translation=cam.translation + jnp.concatenate([d[4:6], jnp.zeros((1,), d.dtype)]),
    )


def _damped(hess: Array, nu: Array) -> Array:
    """Marquardt's damping ``H + nu (diag(H) + eps)`` (scale-free; eps keeps it invertible)."""
    dh = jnp.diagonal(hess)
    eps = 1e-12 * jnp.max(dh) + jnp.finfo(hess.dtype).tiny
    return hess + jnp.diag(nu * (dh + eps))


def _frame_lm(cam, x, base, basis, pts, w, spread, ridge, *, n_iterations, fit_x):
    """Levenberg-Marquardt on one frame's ``E_t`` in ``(x, camera)``, or the camera alone.

    ``E_t = |q - s [R (base + basis x)]_xy - t|_w^2 / D + x^T diag(ridge) x``. A step is taken
    when it does not increase ``E_t`` (the damping then shrinks, else it grows and the step is
    retried), so ``E_t`` never increases; near the minimum the steps are Gauss-Newton's.
    """
    k = basis.shape[2]

    def objective(cam, x):
        return _data_term(cam, base + basis @ x, pts, w, spread)[0] + jnp.sum(ridge * x * x)

    def step(state, _):
        cam, x, nu, value = state
        shape = base + basis @ x
        r = pts - _project(cam, shape)
        jac = _camera_jacobian(cam, shape)
        if fit_x:
            j_x = cam.scale * jnp.einsum("dc,lck->ldk", cam.rotation[:2], basis)
            jac = jnp.concatenate([j_x, jac], axis=2)
        hess = jnp.einsum("l,ldk,ldj->kj", w, jac, jac) / spread
        grad = jnp.einsum("l,ldk,ld->k", w, jac, r) / spread
        if fit_x:
            zero = jnp.zeros((6,), x.dtype)
            hess = hess + jnp.diag(jnp.concatenate([ridge, zero]))
            grad = grad - jnp.concatenate([ridge * x, zero])
        d = jnp.linalg.solve(_damped(hess, nu), grad)
        new_x = x + d[:k] if fit_x else x
        new_cam = _step_camera(cam, d[k:] if fit_x else d)
        new_value = objective(new_cam, new_x)
        ok = jnp.isfinite(new_value) & (new_value <= value)
        cam = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_cam, cam)
        x = jnp.where(ok, new_x, x)
        return (cam, x, jnp.where(ok, 0.3 * nu, 10.0 * nu), jnp.where(ok, new_value, value)), None

    nu = jnp.asarray(1e-3, x.dtype)
    state = (cam, x, nu, objective(cam, x))
    (cam, x, _, _), _ = jax.lax.scan(step, state, None, length=n_iterations)
    return cam, x


def _normal_equations(cam, base, basis, pts, w, spread):
    """``(H, g)`` of the data term in the coefficients of ``basis`` (L, 3, k) about ``base``."""
    jac = cam.scale * jnp.einsum("dc,lck->ldk", cam.rotation[:2], basis)  # (L, 2, k)
    r = pts - _project(cam, base)
    hess = jnp.einsum("l,ldk,ldj->kj", w, jac, jac) / spread
    grad = jnp.einsum("l,ldk,ld->k", w, jac, r) / spread
    return hess, grad


# ---------------------------------------------------------------------------- neutral frames


def select_neutral_frames(
    landmarks: Float[ArrayLike, "T L 2"],
    *,
    n_frames: int = DEFAULT_N_NEUTRAL,
    candidates: Bool[ArrayLike, " T"] | None = None,
) -> Int[Array, " K"]:
    """The subject's least expressive frames, by their 2D landmark shape.

    Every frame with all landmarks finite is aligned to a reference by the closed-form 2D
    similarity (Procrustes: scale, rotation, translation); the reference is the coordinate-wise
    median of the frames aligned to their mean shape (a spontaneous-expression video is neutral
    most of the time, so the median shape is the neutral one). The ``n_frames`` frames with the
    smallest residual to it are returned (fewer if fewer frames qualify).

    Args:
        landmarks: (T, L, 2) one subject's landmarks (NaN rows for missing ones).
        n_frames: K >= 1, frames wanted.
        candidates: optional (T,) bool, the frames allowed (e.g. all AU intensities 0).

    Returns:
        (K,) int frame indices, by increasing residual.

    Raises:
        ValueError: bad shapes, ``n_frames`` < 1, no frame with all landmarks finite among the
            candidates.
    """
    x, _ = _check_landmarks(landmarks)
    if isinstance(n_frames, bool) or not isinstance(n_frames, int | np.integer) or n_frames < 1:
        raise ValueError(f"n_frames must be an int >= 1, got {n_frames!r}.")
    ok = np.all(np.isfinite(np.asarray(x)), axis=(1, 2))
    if candidates is not None:
        c = np.asarray(candidates)
        if c.shape != ok.shape or c.dtype != bool:
            raise ValueError(
                f"candidates must be a ({ok.shape[0]},) bool mask, got {c.dtype} {c.shape}."
            )
        ok &= c
    frames = np.flatnonzero(ok)
    if frames.size == 0:
        raise ValueError("landmarks: no frame (among the candidates) has all landmarks finite.")
    z = np.asarray(x)[frames].astype(np.float64)
    z = (z[..., 0] + 1j * z[..., 1]) - np.mean(z[..., 0] + 1j * z[..., 1], axis=1, keepdims=True)
    ref = np.mean(z, axis=0)
    for _ in range(2):  # align to the mean, then to the median of the aligned shapes
        a = np.sum(np.conj(z) * ref[None], axis=1) / np.sum(np.abs(z) ** 2, axis=1)
        aligned = a[:, None] * z
        ref = np.median(aligned.real, axis=0) + 1j * np.median(aligned.imag, axis=0)
    a = np.sum(np.conj(z) * ref[None], axis=1) / np.sum(np.abs(z) ** 2, axis=1)
    residual = np.sum(np.abs(a[:, None] * z - ref[None]) ** 2, axis=1)
    order = np.argsort(residual, kind="stable")[: int(n_frames)]
    return jnp.asarray(frames[order])


# ---------------------------------------------------------------------------------- identity


def fit_identity(
    model: MorphableModel,
    landmarks: Float[ArrayLike, "K L 2"],
    *,
    lambda_id: float = DEFAULT_LAMBDA_ID,
    lambda_exp: float = DEFAULT_LAMBDA_EXP,
    n_iterations: int = 20,
) -> tuple[Float[Array, " n_id"], Float[Array, "K n_exp"], SimilarityTransform]:
    r"""The subject's identity, jointly over a few (least expressive) frames.

    .. math::
        \min_{x_{id}, \{x_{exp,k}, c_k\}} \sum_k E_k(x_{id}, x_{exp,k}, c_k)
        + \lambda_{id}\, x_{id}^\top P_{id}\, x_{id}

    (``E_k`` of the module docstring, eq. 1 of seed 002 on the landmarks). Levenberg-Marquardt
    from the linear solver's cameras of the mean face: each Gauss-Newton system has per-frame
    blocks ``[[A_k, C_k], [C_k^T, E_k]]`` (``x_id`` against ``y_k = (x_exp,k, camera_k)``) and
    right-hand sides ``(g_k, h_k)``; the step is ``d_id = (sum_k A_k - C_k E_k^{-1} C_k^T +
    lambda_id P_id)^{-1} sum_k (g_k - C_k E_k^{-1} h_k)`` (the prior's gradient included in
    ``g``), ``d_y,k = E_k^{-1} (h_k - C_k^T d_id)``, with Marquardt's damping, taken only where it
    lowers the objective.

    Args:
        model: the morphable model.
        landmarks: (K, L, 2) the frames' landmarks, L = 68, 66 (DISFA) or 49; image units, any y
            direction. Each frame needs :data:`MIN_LANDMARKS` finite landmarks.
        lambda_id: identity prior weight >= 0 (dimensionless).
        lambda_exp: expression prior weight >= 0.
        n_iterations: Levenberg-Marquardt steps, >= 1.

    Returns:
        ``(x_id (n_id,), x_exp (K, n_exp), cameras)`` (camera leaves with a leading K axis).

    Raises:
        ValueError: bad shapes or values, a frame without enough landmarks.
    """
    x, scheme = _check_landmarks(landmarks, dtype=model.mean_shape.dtype)
    if not np.all(np.sum(np.all(np.isfinite(np.asarray(x)), axis=2), axis=1) >= MIN_LANDMARKS):
        raise ValueError(f"landmarks: every frame needs at least {MIN_LANDMARKS} finite landmarks.")
    dtype = model.mean_shape.dtype
    lam_id = _check_lambda(lambda_id, "lambda_id", dtype)
    lam_exp = _check_lambda(lambda_exp, "lambda_exp", dtype)
    return _fit_identity(
        model, x, lam_id, lam_exp, scheme=scheme, n_iterations=_check_iterations(n_iterations)
    )


@functools.partial(jax.jit, static_argnames=("scheme", "n_iterations"))
def _fit_identity(model, landmarks, lam_id, lam_exp, *, scheme, n_iterations):
    """Levenberg-Marquardt on the joint problem; in each step the per-frame blocks
    ``(x_exp, camera)`` are eliminated by their Schur complement (an ``n_id x n_id`` system)."""
    mean, a_id, a_exp = model.landmark_bases(scheme=scheme)
    n_id, n_exp = a_id.shape[2], a_exp.shape[2]
    ridge_id = lam_id / jnp.square(model.id_std)
    ridge_exp = lam_exp / jnp.square(model.exp_std)
    prior_y = jnp.concatenate([ridge_exp, jnp.zeros((6,), ridge_exp.dtype)])
    # every frame has landmarks (fit_identity checks): the data weights are the camera's
    pts, w, _, _, _, spread = jax.vmap(_frame_weights, in_axes=(0, None))(landmarks, mean[:, :2])

    def shape_of(x_id, x):  # (L, 3) of one frame
        return mean + a_id @ x_id + a_exp @ x

    def objective(x_id, x_exp, cams):
        data = jax.vmap(lambda c, x, p, ww, dd: _data_term(c, shape_of(x_id, x), p, ww, dd)[0])(
            cams, x_exp, pts, w, spread
        )
        prior = jnp.sum(ridge_exp[None] * x_exp * x_exp) + jnp.sum(ridge_id * x_id * x_id)
        return jnp.sum(data) + prior

    def blocks(cam, x_id, x, p, ww, dd):
        shape = shape_of(x_id, x)
        r = p - _project(cam, shape)
        r_xy = cam.scale * cam.rotation[:2]
        j_id = jnp.einsum("dc,lck->ldk", r_xy, a_id)
        j_y = jnp.concatenate(
            [jnp.einsum("dc,lck->ldk", r_xy, a_exp), _camera_jacobian(cam, shape)], axis=2
        )
        a = jnp.einsum("l,ldk,ldj->kj", ww, j_id, j_id) / dd
        c = jnp.einsum("l,ldk,ldj->kj", ww, j_id, j_y) / dd
        e = jnp.einsum("l,ldk,ldj->kj", ww, j_y, j_y) / dd + jnp.diag(prior_y)
        g = jnp.einsum("l,ldk,ld->k", ww, j_id, r) / dd
        h = jnp.einsum("l,ldk,ld->k", ww, j_y, r) / dd - jnp.concatenate(
            [ridge_exp * x, jnp.zeros((6,), x.dtype)]
        )
        return a, c, e, g, h

    def step(state, _):
        x_id, x_exp, cams, nu, value = state
        a, c, e, g, h = jax.vmap(blocks, in_axes=(0, None, 0, 0, 0, 0))(
            cams, x_id, x_exp, pts, w, spread
        )
        e = jax.vmap(_damped, in_axes=(0, None))(e, nu)
        e_inv_ct = jnp.linalg.solve(e, jnp.swapaxes(c, 1, 2))  # (K, n_y, n_id)
        e_inv_h = jnp.linalg.solve(e, h[..., None])[..., 0]  # (K, n_y)
        schur = _damped(jnp.sum(a, axis=0) + jnp.diag(ridge_id), nu) - jnp.sum(c @ e_inv_ct, axis=0)
        rhs = (
            jnp.sum(g, axis=0) - ridge_id * x_id
            - jnp.sum(jnp.einsum("kij,kj->ki", c, e_inv_h), axis=0)
        )  # fmt: skip
        d_id = jnp.linalg.solve(schur, rhs)
        d_y = e_inv_h - jnp.einsum("kji,i->kj", e_inv_ct, d_id)
        new = (x_id + d_id, x_exp + d_y[:, :n_exp], jax.vmap(_step_camera)(cams, d_y[:, n_exp:]))
        new_value = objective(*new)
        ok = jnp.isfinite(new_value) & (new_value <= value)
        x_id, x_exp, cams = jax.tree.map(lambda u, v: jnp.where(ok, u, v), new, (x_id, x_exp, cams))
        nu = jnp.where(ok, 0.3 * nu, 10.0 * nu)
        return (x_id, x_exp, cams, nu, jnp.where(ok, new_value, value)), None

    n_frames = landmarks.shape[0]
    x_id = jnp.zeros(n_id, landmarks.dtype)
    x_exp = jnp.zeros((n_frames, n_exp), landmarks.dtype)
    cams = jax.vmap(_camera, in_axes=(None, 0, 0))(mean, pts, w)
    nu = jnp.asarray(1e-3, landmarks.dtype)
    state = (x_id, x_exp, cams, nu, objective(x_id, x_exp, cams))
    (x_id, x_exp, cams, _, _), _ = jax.lax.scan(step, state, None, length=n_iterations)
    return x_id, x_exp, cams


# ------------------------------------------------------------------------------- expressions


def fit_expressions(
    model: MorphableModel,
    x_id: Float[ArrayLike, " n_id"],
    landmarks: Float[ArrayLike, "T L 2"],
    *,
    lambda_exp: float = DEFAULT_LAMBDA_EXP,
    temporal: float = 0.0,
    n_iterations: int = 10,
    n_rounds: int = 3,
) -> tuple[Float[Array, "T n_exp"], SimilarityTransform, Float[Array, " T"], Bool[Array, " T"]]:
    r"""Expression coefficients and cameras of every frame, the identity fixed.

    Per frame (``jax.lax.map``, vmapped in chunks): from the linear solver's camera at
    ``x_exp = 0``, ``n_iterations`` Levenberg-Marquardt steps on ``E_t`` in ``(x_exp, camera)``
    (a step is kept only where it does not increase ``E_t``; for a fixed camera the minimiser is
    the regularised least squares ``x_exp = (H_t + lambda_exp P_exp)^{-1} g_t``). With
    ``temporal = mu > 0``, then ``n_rounds`` times: the whole sequence's block-tridiagonal system
    for the cameras at hand (module docstring), then (but after the last round) the cameras again
    by Levenberg-Marquardt with the expressions fixed.

    Args:
        model: the morphable model.
        x_id: (n_id,) the subject's identity (:func:`fit_identity`).
        landmarks: (T, L, 2) the frames of one sequence, in time order (L = 68, 66 or 49; NaN
            rows for missing landmarks).
        lambda_exp: expression prior weight >= 0 (> 0 where frames may lack landmarks).
        temporal: smoothness weight ``mu`` >= 0 between consecutive frames (0: frames
            independent).
        n_iterations: Levenberg-Marquardt steps per frame, >= 1.
        n_rounds: temporal rounds (system, cameras), >= 1; unused when ``temporal`` is 0.

    Returns:
        ``(x_exp (T, n_exp), cameras (leading T axis), residual (T,), valid (T,))``; residual is
        the RMS reprojection error in image units, NaN where not valid.

    Raises:
        ValueError: bad shapes or values.
    """
    x, scheme = _check_landmarks(landmarks, dtype=model.mean_shape.dtype)
    dtype = model.mean_shape.dtype
    x_id = jnp.asarray(x_id, dtype)
    if x_id.shape != (model.n_id,) or not np.all(np.isfinite(np.asarray(x_id))):
        raise ValueError(f"x_id must be finite with shape ({model.n_id},), got {x_id.shape}.")
    lam = _check_lambda(lambda_exp, "lambda_exp", dtype)
    mu = _check_lambda(temporal, "temporal", dtype)
    n = _check_iterations(n_iterations)
    r = _check_iterations(n_rounds)
    return _fit_expressions(model, x_id, x, lam, mu, scheme=scheme, n_iterations=n, n_rounds=r,
                            smooth=bool(float(mu) > 0.0))  # fmt: skip


@functools.partial(jax.jit, static_argnames=("scheme", "n_iterations", "n_rounds", "smooth"))
def _fit_expressions(model, x_id, landmarks, lam, mu, *, scheme, n_iterations, n_rounds, smooth):
    mean, a_id, a_exp = model.landmark_bases(scheme=scheme)
    base = mean + a_id @ x_id  # (L, 3)
    prec = 1.0 / jnp.square(model.exp_std)
    ridge = lam * prec
    k = a_exp.shape[2]

    def frame(pts):
        # a frame without landmarks is fitted to the placeholder (a finite camera), x set to 0
        pts, _, valid, cam_pts, cam_w, spread = _frame_weights(pts, mean[:, :2])
        cam = _camera(base, cam_pts, cam_w)
        x = jnp.zeros(k, pts.dtype)
        cam, x = _frame_lm(cam, x, base, a_exp, cam_pts, cam_w, spread, ridge,
                           n_iterations=n_iterations, fit_x=True)  # fmt: skip
        return jnp.where(valid, x, jnp.zeros_like(x)), cam

    x_exp, cams = jax.lax.map(frame, landmarks, batch_size=_CHUNK)

    def system(cam, pts):
        pts, w, _, _, _, spread = _frame_weights(pts, mean[:, :2])
        return _normal_equations(cam, base, a_exp, pts, w, spread)

    def camera(cam, pts, x):
        pts, _, _, cam_pts, cam_w, spread = _frame_weights(pts, mean[:, :2])
        none = jnp.zeros((0,), x.dtype)
        cam, _ = _frame_lm(cam, none, base + a_exp @ x, a_exp[:, :, :0], cam_pts, cam_w, spread,
                           none, n_iterations=n_iterations, fit_x=False)  # fmt: skip
        return cam

    def smooth_all(cams):  # the sequence's block-tridiagonal system for these cameras
        hess, grad = jax.lax.map(lambda a: system(*a), (cams, landmarks), batch_size=_CHUNK)
        return _solve_block_tridiagonal(hess + jnp.diag(ridge)[None], mu * prec, grad)

    def round_(carry, _):
        cams, x = carry
        x = smooth_all(cams)
        cams = jax.lax.map(lambda a: camera(*a), (cams, landmarks, x), batch_size=_CHUNK)
        return (cams, x), None

    if smooth:  # the temporal prior, alternating with the cameras
        (cams, x_exp), _ = jax.lax.scan(round_, (cams, x_exp), None, length=n_rounds - 1)
        x_exp = smooth_all(cams)

    def stats(cam, pts, x):
        pts, w, valid, _, _, spread = _frame_weights(pts, mean[:, :2])
        _, r2 = _data_term(cam, base + a_exp @ x, pts, w, spread)
        rms = jnp.sqrt(r2 / jnp.maximum(jnp.sum(w), 1.0))
        return jnp.where(valid, rms, jnp.nan), valid

    residual, valid = jax.lax.map(lambda a: stats(*a), (cams, landmarks, x_exp), batch_size=_CHUNK)
    return x_exp, cams, residual, valid


def _solve_block_tridiagonal(diag: Array, step: Array, rhs: Array) -> Array:
    r"""Solves the temporal system ``sum_t (diag_t x_t - g_t) + mu P (2 x_t - x_{t-1} - x_{t+1})``.

    The matrix: diagonal blocks ``diag_t + n_t diag(step)`` (``n_t`` = 1 at the ends, 2 inside),
    off-diagonal blocks ``-diag(step)``; symmetric positive definite when every ``diag_t`` is
    (block Gaussian elimination needs no pivoting: the Schur complements stay SPD, factored by
    Cholesky).

    Args:
        diag: (T, k, k) SPD per-frame blocks ``H_t + lambda P``.
        step: (k,) the smoothness weights ``mu / std^2``.
        rhs: (T, k) right-hand sides ``g_t``.

    Returns:
        (T, k) the solution.
    """
    n = diag.shape[0]
    if n == 1:
        return jnp.linalg.solve(diag, rhs[..., None])[..., 0]
    count = jnp.full((n,), 2.0, diag.dtype).at[0].set(1.0).at[n - 1].set(1.0)
    blocks = diag + count[:, None, None] * jnp.diag(step)[None]
    off = jnp.diag(step)  # minus the off-diagonal block (diagonal, constant)

    def forward(carry, inputs):
        c_prev, d_prev = carry  # C'_{t-1} = M_{t-1}^{-1} U_{t-1}, d'_{t-1}
        block, g = inputs
        m = block + step[:, None] * c_prev  # M_t = B_t - L_t C'_{t-1}, L_t = U_t = -off
        chol = jsl.cho_factor(m, lower=True)
        c = -jsl.cho_solve(chol, off)  # M_t^{-1} U_t with U_t = -off
        d = jsl.cho_solve(chol, g + step * d_prev)
        return (c, d), (c, d)

    k = diag.shape[1]
    zero = (jnp.zeros((k, k), diag.dtype), jnp.zeros((k,), diag.dtype))
    _, (c, d) = jax.lax.scan(forward, zero, (blocks, rhs))

    def backward(x_next, inputs):
        c_t, d_t = inputs
        x = d_t - c_t @ x_next
        return x, x

    last = d[n - 1]
    _, xs = jax.lax.scan(backward, last, (c[: n - 1], d[: n - 1]), reverse=True)
    return jnp.concatenate([xs, last[None]], axis=0)


# ---------------------------------------------------------------------------------- subjects


def extract_subject(
    model: MorphableModel,
    landmarks: Float[ArrayLike, "T L 2"],
    *,
    neutral: Bool[ArrayLike, " T"] | None = None,
    n_neutral: int = DEFAULT_N_NEUTRAL,
    lambda_id: float = DEFAULT_LAMBDA_ID,
    lambda_exp: float = DEFAULT_LAMBDA_EXP,
    temporal: float = 0.0,
    n_iterations: int = 10,
    n_rounds: int = 3,
    n_identity_iterations: int = 20,
) -> SubjectParameters:
    """One subject's 3DMM parameters: the identity once, then the expressions of every frame.

    :func:`select_neutral_frames` (among ``neutral`` if given), :func:`fit_identity` on them,
    :func:`fit_expressions` on all frames with that identity.

    Args:
        model: the morphable model.
        landmarks: (T, L, 2) the subject's frames in time order (DISFA: L = 66, pixels; NaN rows
            for missing frames).
        neutral: optional (T,) bool, frames known to be neutral (e.g. every AU intensity 0); the
            identity frames are chosen among them.
        n_neutral: frames the identity is fitted on (fewer if fewer qualify).
        lambda_id: identity prior weight (dimensionless, module docstring).
        lambda_exp: expression prior weight.
        temporal: smoothness weight between consecutive frames (0: off).
        n_iterations: Levenberg-Marquardt steps per frame (:func:`fit_expressions`).
        n_rounds: rounds of the temporal prior (:func:`fit_expressions`).
        n_identity_iterations: Levenberg-Marquardt steps of the identity fit.

    Returns:
        The :class:`SubjectParameters`.

    Raises:
        ValueError: bad shapes or values; no frame with all landmarks finite (among ``neutral``).
    """
    x, _ = _check_landmarks(landmarks, dtype=model.mean_shape.dtype)
    frames = select_neutral_frames(x, n_frames=n_neutral, candidates=neutral)
    x_id, _, _ = fit_identity(
        model, x[frames], lambda_id=lambda_id, lambda_exp=lambda_exp,
        n_iterations=n_identity_iterations,
    )  # fmt: skip
    x_exp, cams, residual, valid = fit_expressions(
        model, x_id, x, lambda_exp=lambda_exp, temporal=temporal, n_iterations=n_iterations,
        n_rounds=n_rounds,
    )  # fmt: skip
    return SubjectParameters(
        x_id=x_id, x_exp=x_exp, camera=cams, residual=residual, valid=valid, neutral_frames=frames
    )


def extract_parameters(
    model: MorphableModel,
    landmarks: Mapping[str, Float[ArrayLike, "T L 2"]],
    *,
    neutral: Mapping[str, Bool[ArrayLike, " T"]] | None = None,
    progress: Callable[[str], None] | None = None,
    **kwargs,
) -> dict[str, SubjectParameters]:
    """:func:`extract_subject` for every subject of a dataset.

    Args:
        model: the morphable model.
        landmarks: subject ID -> (T, L, 2) landmarks (e.g. ``read_disfa_sequence(root,
            s).landmarks``).
        neutral: optional subject ID -> (T,) bool neutral frames.
        progress: called with one line per subject (None: silent).
        **kwargs: the keywords of :func:`extract_subject`.

    Returns:
        subject ID -> :class:`SubjectParameters`, in the order of ``landmarks``.
    """
    out = {}
    for subject, lms in landmarks.items():
        mask = None if neutral is None else neutral.get(subject)
        out[subject] = extract_subject(model, lms, neutral=mask, **kwargs)
        if progress is not None:
            fit = out[subject]
            ok = np.asarray(fit.valid)
            rms = float(np.mean(np.asarray(fit.residual)[ok])) if ok.any() else float("nan")
            progress(f"{subject}: {ok.sum()}/{ok.size} frames, mean RMS residual {rms:.3g}")
    return out


# ----------------------------------------------------------------------------- normalisation


@struct.dataclass
class ParameterBounds:
    """Per-dimension limits ``[x_lower, x_upper]`` of the expression parameters (eq. 4's), and the
    linear map onto ``[-1, 1]`` (section 4.2).

    Attributes:
        lower: (d,) ``x_lower``.
        upper: (d,) ``x_upper`` (> lower).
    """

    lower: Float[Array, " d"]
    upper: Float[Array, " d"]

    @classmethod
    def fit(
        cls,
        parameters: Mapping[str, Float[ArrayLike, "T d"]],
        *,
        train_subjects: Sequence[str],
        q: float = 0.5,
    ) -> "ParameterBounds":
        """Robust bounds from the training subjects' frames only.

        ``lower`` / ``upper`` are the ``q``-th and ``(100 - q)``-th percentiles of each dimension
        over every frame of the subjects in ``train_subjects`` (the other entries of
        ``parameters`` are not read). A dimension whose percentiles coincide is widened to a
        width of 1e-9 times the widest dimension's (no division by zero).

        Args:
            parameters: subject ID -> (T, d) parameters (e.g. ``SubjectParameters.x_exp``).
            train_subjects: the training subjects, each a key of ``parameters``.
            q: percentile in [0, 50) (0: min / max).

        Returns:
            The :class:`ParameterBounds`.

        Raises:
            ValueError: no or unknown training subjects, mismatched dimensions, non-finite
                values, ``q`` out of range.
        """
        train = list(train_subjects)
        if not train:
            raise ValueError("train_subjects is empty.")
        missing = [s for s in train if s not in parameters]
        if missing:
            raise ValueError(f"train_subjects not in parameters: {missing}.")
        if not 0.0 <= float(q) < 50.0:
            raise ValueError(f"q must be a percentile in [0, 50), got {q!r}.")
        rows = [np.asarray(parameters[s], np.float64) for s in train]
        d = rows[0].shape[-1] if rows[0].ndim == 2 else None
        for s, r in zip(train, rows, strict=True):
            if r.ndim != 2 or r.shape[1] != d or r.shape[0] == 0:
                raise ValueError(
                    f"parameters[{s!r}] must have shape (T, {d}) with T >= 1, got {r.shape}."
                )
            if not np.all(np.isfinite(r)):
                raise ValueError(f"parameters[{s!r}] contains NaN or inf values.")
        x = np.concatenate(rows, axis=0)
        lower = np.percentile(x, float(q), axis=0)
        upper = np.percentile(x, 100.0 - float(q), axis=0)
        width = upper - lower
        floor = 1e-9 * max(float(width.max()), 1.0)
        pad = np.maximum(floor - width, 0.0) / 2.0
        dtype = jnp.result_type(float)
        return cls(lower=jnp.asarray(lower - pad, dtype), upper=jnp.asarray(upper + pad, dtype))

    def normalise(
        self, x: Float[ArrayLike, "... d"], *, clip: bool = True
    ) -> Float[Array, "... d"]:
        """``2 (x - lower) / (upper - lower) - 1``, clipped to [-1, 1] unless ``clip`` is False."""
        x = jnp.asarray(x, self.lower.dtype)
        self._check(x, "x")
        lower, width = self._broadcast(x)
        u = 2.0 * (x - lower) / width - 1.0
        return jnp.clip(u, -1.0, 1.0) if clip else u

    def denormalise(self, u: Float[ArrayLike, "... d"]) -> Float[Array, "... d"]:
        """The inverse map ``lower + (u + 1) (upper - lower) / 2``."""
        u = jnp.asarray(u, self.lower.dtype)
        self._check(u, "u")
        lower, width = self._broadcast(u)
        return lower + 0.5 * (u + 1.0) * width

    def _check(self, x, name):
        if x.ndim < 1 or x.shape[-1] != self.lower.shape[0]:
            raise ValueError(
                f"{name} must have a last axis of size {self.lower.shape[0]}, got shape {x.shape}."
            )

    def _broadcast(self, x):
        """``lower`` and ``upper - lower`` broadcast to ``x``'s shape (explicitly)."""
        return (
            jnp.broadcast_to(self.lower, x.shape),
            jnp.broadcast_to(self.upper - self.lower, x.shape),
        )


def labels_to_unit(labels: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """AU intensities 0..5 linearly onto [-1, 1]: ``y / 2.5 - 1`` (section 4.2 of seed 002).

    Raises:
        ValueError: concrete labels outside [0, 5] (e.g. DISFA's coded values only).
    """
    y = jnp.asarray(labels)
    y = y.astype(y.dtype if jnp.issubdtype(y.dtype, jnp.floating) else jnp.result_type(float))
    if not isinstance(y, jax.core.Tracer):
        yn = np.asarray(y)
        if not np.all(np.isfinite(yn) & (yn >= 0.0) & (yn <= 5.0)):
            raise ValueError("labels must be AU intensities in [0, 5].")
    return y / 2.5 - 1.0


def unit_to_labels(u: Float[ArrayLike, "..."], *, clip: bool = True) -> Float[Array, "..."]:
    """The inverse of :func:`labels_to_unit`: ``2.5 (u + 1)``, clipped to [0, 5] by default."""
    u = jnp.asarray(u)
    u = u.astype(u.dtype if jnp.issubdtype(u.dtype, jnp.floating) else jnp.result_type(float))
    y = 2.5 * (u + 1.0)
    return jnp.clip(y, 0.0, 5.0) if clip else y
