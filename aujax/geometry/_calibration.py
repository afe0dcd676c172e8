r"""Camera calibration from 2D-3D correspondences: normalised DLT, RQ decomposition, refinement.

Seed 000 (section 2.1, footnote 2) recovers the intrinsic matrix ``W`` "through a set of
corresponding 2D points and 3D points". This is the Direct Linear Transform of Hartley &
Zisserman, "Multiple View Geometry", 2nd ed., algorithms 7.1 (normalised DLT) and 6.1/A4.1 (RQ
decomposition of ``P = K [R | t]``):

1. **Normalisation.** Similarities ``T`` (2D) and ``U`` (3D) move each point set's centroid to
   the origin and scale it to a mean distance of sqrt(2) resp. sqrt(3).
2. **DLT.** Each correspondence ``X <-> (u, v)`` gives two rows of ``A p = 0`` with ``p`` the
   12 entries of ``P``; the solution is the right singular vector of the smallest singular
   value, denormalised as ``P = T^{-1} P_n U``.
3. **Decomposition.** ``P = [M | p_4]`` is fixed in sign so that ``det M > 0``; ``M = K R``
   by RQ with a positive diagonal of ``K`` and ``det R = +1``; ``K`` is scaled to
   ``K[2, 2] = 1`` and ``t = K_raw^{-1} p_4``.
4. **Refinement (optional).** Levenberg-Marquardt on the reprojection error over 11
   parameters: the 5 intrinsics ``(f_x, f_y, c_x, c_y, s)``, an axis-angle rotation increment
   ``omega`` (``R = R_DLT exp([omega]_x)``) and ``t``; Jacobians by ``jax.jacfwd``, a fixed
   number of damped normal-equation steps in ``lax.scan``, a step accepted only if it lowers
   the error (so the error never increases).

Conventions (OpenCV): ``x_cam = R X + t``, ``(u, v, 1)^T ~ K x_cam``, camera x right, y down,
z forward, pixels ``(u, v) = (col, row)``. The 3D points may be in any world frame (e.g. the
model frame of the face: x toward the subject's left, y up, z toward the camera); ``R, t`` map
that frame to the camera. Needs >= 6 correspondences with non-coplanar 3D points. Work in
float64 for accuracy (the DLT squares the condition number of the data).
"""

import functools

import jax
import jax.numpy as jnp
from flax import struct
from jaxtyping import Array, ArrayLike, Float

from .._checks import as_float, check_finite, check_shape, is_concrete
from ._checks import (
    check_affine_rank,
    check_min_points,
    check_points,
    check_same_length,
    common_float_dtype,
)
from ._projection import perspective_project
from ._rotation import rotation_from_axis_angle


__all__ = ["Calibration", "dlt_calibrate", "rq_decomposition"]


@struct.dataclass
class Calibration:
    """A calibrated pinhole camera ``P = K [R | t]``.

    Attributes:
        intrinsics: (3, 3) upper-triangular ``K`` with positive diagonal and ``K[2, 2] = 1``
            (the paper's ``W``).
        rotation: (3, 3) proper rotation ``R`` from the world frame to the camera frame.
        translation: (3,) translation ``t`` (``x_cam = R X + t``).
        reprojection_error: () RMS reprojection error in pixels over the calibration points,
            ``sqrt(mean_i |proj(X_i) - x_i|^2)``.
    """

    intrinsics: Float[Array, "3 3"]
    rotation: Float[Array, "3 3"]
    translation: Float[Array, "3"]
    reprojection_error: Float[Array, ""]

    def projection_matrix(self) -> Float[Array, "3 4"]:
        """The (3, 4) projection matrix ``K [R | t]``."""
        return self.intrinsics @ jnp.concatenate([self.rotation, self.translation[:, None]], axis=1)

    def camera_center(self) -> Float[Array, "3"]:
        """The camera centre ``C = -R^T t`` in world coordinates."""
        return -(self.rotation.T @ self.translation)

    def to_camera(self, points_3d: Float[Array, "n 3"]) -> Float[Array, "n 3"]:
        """World points (n, 3) to camera-frame points ``R X + t`` (n, 3)."""
        return points_3d @ self.rotation.T + self.translation[None, :]

    def project(self, points_3d: Float[Array, "n 3"]) -> Float[Array, "n 2"]:
        """World points (n, 3) to pixels (n, 2) ``(u, v)``."""
        return perspective_project(self.to_camera(points_3d), self.intrinsics)


def _rq(m: Array) -> tuple[Array, Array]:
    """RQ of a 3x3 matrix via QR of the row-reversed transpose, diagonal of K made positive."""
    q_, r_ = jnp.linalg.qr(m[::-1].T)
    k = r_.T[::-1, ::-1]
    rot = q_.T[::-1]
    signs = jnp.sign(jnp.diagonal(k))
    signs = jnp.where(signs == 0, jnp.ones_like(signs), signs)
    return k * signs[None, :], signs[:, None] * rot


def rq_decomposition(M: Float[ArrayLike, "3 3"]) -> tuple[Float[Array, "3 3"], Float[Array, "3 3"]]:
    """RQ decomposition ``M = K R`` of a 3x3 matrix with positive determinant.

    ``K`` is upper triangular with a positive diagonal and ``R`` is a proper rotation
    (orthonormal, det +1); both are unique for an invertible ``M`` with ``det M > 0``
    (``det K > 0`` forces ``det R = sign(det M)``). ``K`` is not rescaled. Differentiable
    (through ``jnp.linalg.qr``).

    Args:
        M: (3, 3) invertible matrix with ``det M > 0``, e.g. the left 3x3 block of a projection
            matrix whose sign was fixed (a projection matrix is defined up to a non-zero factor).

    Returns:
        ``(K, R)``.

    Raises:
        ValueError: wrong shape, non-finite values or ``det M <= 0`` (value checks only outside
            jit/vmap; under tracing a negative determinant returns ``det R = -1``).
    """
    m = as_float(M, "M")
    check_shape(m, "M", (3, 3), "(3, 3)")
    check_finite(m, "M")
    if is_concrete(m):
        det = float(jnp.linalg.det(m))
        if not det > 0.0:
            raise ValueError(
                f"M must have a positive determinant for K (positive diagonal) times a proper "
                f"rotation, got det {det:.3g}; negate a projection matrix with det < 0 first."
            )
    return _rq(m)


def _normaliser(x: Array) -> Array:
    """(d+1, d+1) similarity moving the centroid of x (n, d) to 0 and its mean radius to sqrt(d)."""
    d = x.shape[1]
    c = jnp.mean(x, axis=0)
    s = jnp.sqrt(jnp.asarray(float(d), dtype=x.dtype)) / jnp.mean(
        jnp.linalg.norm(x - c[None, :], axis=1)
    )
    top = jnp.concatenate([s * jnp.eye(d, dtype=x.dtype), (-s * c)[:, None]], axis=1)
    bottom = jnp.zeros((1, d + 1), dtype=x.dtype).at[0, d].set(1.0)
    return jnp.concatenate([top, bottom], axis=0)


def _homogeneous(x: Array) -> Array:
    return jnp.concatenate([x, jnp.ones((x.shape[0], 1), dtype=x.dtype)], axis=1)


def _dlt_projection(points_3d: Array, points_2d: Array) -> Array:
    """Normalised DLT estimate of P (3, 4), sign fixed so that det P[:, :3] > 0."""
    t2 = _normaliser(points_2d)
    t3 = _normaliser(points_3d)
    xw = _homogeneous(points_3d) @ t3.T  # (n, 4)
    xi = _homogeneous(points_2d) @ t2.T  # (n, 3), last column 1
    zeros = jnp.zeros_like(xw)
    u = xi[:, 0:1]
    v = xi[:, 1:2]
    rows_u = jnp.concatenate([xw, zeros, -u * xw], axis=1)
    rows_v = jnp.concatenate([zeros, xw, -v * xw], axis=1)
    a = jnp.concatenate([rows_u, rows_v], axis=0)  # (2n, 12)
    _, _, vt = jnp.linalg.svd(a, full_matrices=False)
    p_norm = vt[-1].reshape(3, 4)
    p = jnp.linalg.solve(t2, p_norm @ t3)
    sign = jnp.sign(jnp.linalg.det(p[:, :3]))
    return p * jnp.where(sign == 0, jnp.ones_like(sign), sign)


def _decompose(p: Array) -> tuple[Array, Array, Array]:
    """K (K[2,2] = 1), R, t of a projection matrix with det P[:, :3] > 0."""
    k_raw, rot = _rq(p[:, :3])
    t = jnp.linalg.solve(k_raw, p[:, 3])
    return k_raw / k_raw[2, 2], rot, t


def _rms(k: Array, rot: Array, t: Array, points_3d: Array, points_2d: Array) -> Array:
    cam = points_3d @ rot.T + t[None, :]
    h = cam @ k.T
    diff = h[:, :2] / h[:, 2:3] - points_2d
    return jnp.sqrt(jnp.mean(jnp.sum(diff * diff, axis=1)))


def _intrinsics_from_params(k5: Array) -> Array:
    fx, fy, cx, cy, s = k5[0], k5[1], k5[2], k5[3], k5[4]
    zero = jnp.zeros_like(fx)
    one = jnp.ones_like(fx)
    return jnp.stack(
        [jnp.stack([fx, s, cx]), jnp.stack([zero, fy, cy]), jnp.stack([zero, zero, one])]
    )


def _refine(k, rot0, t, points_3d, points_2d, steps: int):
    """Levenberg-Marquardt over (f_x, f_y, c_x, c_y, s, omega, t); returns (K, R, t)."""
    theta0 = jnp.concatenate(
        [
            jnp.stack([k[0, 0], k[1, 1], k[0, 2], k[1, 2], k[0, 1]]),
            jnp.zeros(3, dtype=k.dtype),
            t,
        ]
    )

    def unpack(theta):
        return (
            _intrinsics_from_params(theta[:5]),
            rot0 @ rotation_from_axis_angle(theta[5:8]),
            theta[8:],
        )

    def residual(theta):
        kk, rr, tt = unpack(theta)
        cam = points_3d @ rr.T + tt[None, :]
        h = cam @ kk.T
        return (h[:, :2] / h[:, 2:3] - points_2d).reshape(-1)

    def cost(theta):
        r = residual(theta)
        return jnp.sum(r * r)

    def step(carry, _):
        theta, lam, c = carry
        r = residual(theta)
        jac = jax.jacfwd(residual)(theta)
        g = jac.T @ r
        h = jac.T @ jac
        diag = jnp.diagonal(h)
        damping = lam * (diag + jnp.finfo(diag.dtype).eps * jnp.max(diag))
        delta = jnp.linalg.solve(h + jnp.diag(damping), -g)
        trial = theta + delta
        c_trial = cost(trial)
        accept = jnp.isfinite(c_trial) & (c_trial < c)
        theta = jnp.where(accept, trial, theta)
        c = jnp.where(accept, c_trial, c)
        lam = jnp.where(accept, 0.3 * lam, 10.0 * lam)
        return (theta, lam, c), None

    lam0 = jnp.asarray(1e-3, dtype=k.dtype)
    (theta, _, _), _ = jax.lax.scan(step, (theta0, lam0, cost(theta0)), None, length=steps)
    return unpack(theta)


@functools.partial(jax.jit, static_argnames=("refine", "refine_steps"))
def _calibrate(points_3d, points_2d, *, refine: bool, refine_steps: int) -> Calibration:
    k, rot, t = _decompose(_dlt_projection(points_3d, points_2d))
    if refine:
        k, rot, t = _refine(k, rot, t, points_3d, points_2d, refine_steps)
    return Calibration(
        intrinsics=k,
        rotation=rot,
        translation=t,
        reprojection_error=_rms(k, rot, t, points_3d, points_2d),
    )


def dlt_calibrate(
    points_3d: Float[ArrayLike, "n 3"],
    points_2d: Float[ArrayLike, "n 2"],
    *,
    refine: bool = False,
    refine_steps: int = 50,
) -> Calibration:
    """Calibrates a pinhole camera from 2D-3D correspondences (normalised DLT + RQ).

    See the module docstring for the algorithm. Under noise the DLT minimises an algebraic
    error; ``refine=True`` then minimises the geometric (reprojection) error, which is never
    larger afterwards.

    Args:
        points_3d: (n, 3) world points, n >= 6, not coplanar.
        points_2d: (n, 2) their pixel coordinates ``(u, v) = (col, row)``, not collinear.
        refine: run Levenberg-Marquardt refinement of the 11 camera parameters.
        refine_steps: number of Levenberg-Marquardt iterations (static).

    Returns:
        The :class:`Calibration` ``(K, R, t, rms)``.

    Raises:
        ValueError: wrong shapes, mismatched n, fewer than 6 points, non-finite values,
            coplanar 3D points or collinear 2D points (value checks only outside jit).
    """
    dtype = common_float_dtype(points_3d, points_2d)
    points_3d = as_float(points_3d, "points_3d", dtype)
    points_2d = as_float(points_2d, "points_2d", dtype)
    check_points(points_3d, "points_3d", 3)
    check_points(points_2d, "points_2d", 2)
    check_same_length(points_3d, "points_3d", points_2d, "points_2d")
    check_min_points(points_3d, "points_3d", 6, "DLT calibration (11 unknowns, 2 per point)")
    check_finite(points_3d, "points_3d")
    check_finite(points_2d, "points_2d")
    check_affine_rank(points_3d, "points_3d", 3, "coplanar (the DLT needs non-coplanar points)")
    check_affine_rank(points_2d, "points_2d", 2, "collinear")
    if isinstance(refine_steps, bool) or not isinstance(refine_steps, int) or refine_steps < 1:
        raise ValueError(f"refine_steps must be a positive int, got {refine_steps!r}.")
    return _calibrate(points_3d, points_2d, refine=bool(refine), refine_steps=refine_steps)
