r"""Camera projections and back-projection of 2D landmarks (seed 000, eq. 3).

Conventions (OpenCV): the camera frame has x right, y down, z forward (along the optical axis),
a camera-frame point ``x_cam = R X + t`` projects with ``P = K [R | t]``, and a pixel is
``(u, v) = (col, row)``. The intrinsic matrix

.. math::
    K = \begin{pmatrix} f_x & s & c_x \\ 0 & f_y & c_y \\ 0 & 0 & 1 \end{pmatrix}

is the paper's ``W``. A face in the model frame (x toward the subject's left, y up, z toward the
camera) seen frontally by a camera on the +z axis has ``R = diag(1, -1, -1)``
(see :func:`look_at_pose`).
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._checks import as_float, check_finite, check_shape, is_concrete
from ._checks import check_points, check_positive, common_float_dtype


__all__ = [
    "backproject",
    "intrinsics_matrix",
    "look_at_pose",
    "perspective_project",
    "scaled_orthographic_project",
    "weak_perspective_project",
]


def _check_intrinsics(intrinsics: Array) -> None:
    check_shape(intrinsics, "intrinsics", (3, 3), "(3, 3)")
    check_finite(intrinsics, "intrinsics")
    if is_concrete(intrinsics) and not abs(float(jnp.linalg.det(intrinsics))) > 0.0:
        raise ValueError("intrinsics must be an invertible (3, 3) matrix, got det 0.")


def intrinsics_matrix(
    *,
    focal: Float[ArrayLike, ""],
    center: Float[ArrayLike, "2"],
    skew: Float[ArrayLike, ""] = 0.0,
    aspect: Float[ArrayLike, ""] = 1.0,
) -> Float[Array, "3 3"]:
    """The intrinsic matrix ``K = [[f, skew, c_x], [0, aspect * f, c_y], [0, 0, 1]]``.

    Args:
        focal: focal length ``f_x`` in pixels, > 0.
        center: (2,) principal point ``(c_x, c_y)`` in pixels (col, row).
        skew: skew ``s`` in pixels (0 for square-pixel sensors).
        aspect: ``f_y / f_x``, > 0.

    Returns:
        (3, 3) upper-triangular ``K`` (differentiable in every argument).
    """
    dtype = common_float_dtype(focal, center, skew, aspect)
    focal = as_float(focal, "focal", dtype)
    center = as_float(center, "center", dtype)
    skew = as_float(skew, "skew", dtype)
    aspect = as_float(aspect, "aspect", dtype)
    check_shape(focal, "focal", (), "() (a scalar)")
    check_shape(center, "center", (2,), "(2,)")
    check_shape(skew, "skew", (), "() (a scalar)")
    check_shape(aspect, "aspect", (), "() (a scalar)")
    check_positive(focal, "focal")
    check_positive(aspect, "aspect")
    check_finite(center, "center")
    check_finite(skew, "skew")
    zero = jnp.zeros((), dtype=dtype)
    one = jnp.ones((), dtype=dtype)
    return jnp.stack(
        [
            jnp.stack([focal, skew, center[0]]),
            jnp.stack([zero, aspect * focal, center[1]]),
            jnp.stack([zero, zero, one]),
        ]
    )


def look_at_pose(
    eye: Float[ArrayLike, "3"],
    target: Float[ArrayLike, "3"],
    *,
    up: Float[ArrayLike, "3"] = (0.0, 1.0, 0.0),
) -> tuple[Float[Array, "3 3"], Float[Array, "3"]]:
    """Extrinsics ``(R, t)`` of an OpenCV camera at ``eye`` looking at ``target``.

    The camera's z axis points from ``eye`` to ``target``, its y axis (image down) points
    against ``up`` and its x axis completes a right-handed frame, so ``x_cam = R X + t`` with
    ``t = -R eye``. With the default ``up`` (+y of the model frame) and ``eye`` on the +z axis,
    ``R = diag(1, -1, -1)``: the subject's left (+x) appears on the image right.

    Args:
        eye: (3,) camera centre in world (e.g. model-frame) coordinates.
        target: (3,) point the optical axis passes through.
        up: (3,) world up direction, not parallel to ``target - eye``.

    Returns:
        ``(rotation, translation)``: (3, 3) proper rotation and (3,) translation.
    """
    dtype = common_float_dtype(eye, target, up)
    eye = as_float(eye, "eye", dtype)
    target = as_float(target, "target", dtype)
    up = as_float(up, "up", dtype)
    for name, v in (("eye", eye), ("target", target), ("up", up)):
        check_shape(v, name, (3,), "(3,)")
        check_finite(v, name)
    forward = target - eye
    right = jnp.cross(forward, up)
    if is_concrete(forward, right):
        if not float(jnp.linalg.norm(forward)) > 0.0:
            raise ValueError("target must differ from eye.")
        if not float(jnp.linalg.norm(right)) > 1e-12 * float(jnp.linalg.norm(forward)):
            raise ValueError("up must not be parallel to the viewing direction target - eye.")
    z = forward / jnp.linalg.norm(forward)
    x = right / jnp.linalg.norm(right)
    y = jnp.cross(z, x)
    rotation = jnp.stack([x, y, z])
    return rotation, -(rotation @ eye)


def perspective_project(
    points: Float[ArrayLike, "n 3"], intrinsics: Float[ArrayLike, "3 3"]
) -> Float[Array, "n 2"]:
    r"""Pinhole projection of camera-frame points to pixels.

    .. math::
        (u, v, 1)^\top \sim K (x, y, z)^\top

    Args:
        points: (n, 3) camera-frame points (x right, y down, z forward), z > 0.
        intrinsics: (3, 3) intrinsic matrix ``K``.

    Returns:
        (n, 2) pixel coordinates ``(u, v) = (col, row)``.

    Raises:
        ValueError: wrong shapes, non-finite values or points not in front of the camera
            (checked outside jit/vmap only).
    """
    dtype = common_float_dtype(points, intrinsics)
    points = as_float(points, "points", dtype)
    intrinsics = as_float(intrinsics, "intrinsics", dtype)
    check_points(points, "points", 3)
    check_finite(points, "points")
    _check_intrinsics(intrinsics)
    check_positive(points[:, 2], "points[:, 2] (depth in front of the camera)")
    h = points @ intrinsics.T
    return h[:, :2] / h[:, 2:3]


def weak_perspective_project(
    points: Float[ArrayLike, "n 3"],
    intrinsics: Float[ArrayLike, "3 3"],
    *,
    depth: Float[ArrayLike, ""],
) -> Float[Array, "n 2"]:
    r"""Weak-perspective projection: every point is projected as if at the common depth ``zbar``.

    .. math::
        (u, v, 1)^\top \sim K (x, y, \bar z)^\top

    With zero skew this is a scaled orthographic projection with scale ``f / zbar`` about the
    principal point. It is the exact inverse of :func:`backproject` with a scalar depth.

    Args:
        points: (n, 3) camera-frame points (x right, y down, z forward); z is ignored.
        intrinsics: (3, 3) intrinsic matrix ``K``.
        depth: () common depth ``zbar`` > 0 (the mean distance of the face to the camera).

    Returns:
        (n, 2) pixel coordinates ``(u, v)``.
    """
    dtype = common_float_dtype(points, intrinsics, depth)
    points = as_float(points, "points", dtype)
    intrinsics = as_float(intrinsics, "intrinsics", dtype)
    depth = as_float(depth, "depth", dtype)
    check_points(points, "points", 3)
    check_finite(points, "points")
    _check_intrinsics(intrinsics)
    check_shape(depth, "depth", (), "() (a scalar)")
    check_positive(depth, "depth")
    flat = jnp.concatenate([points[:, :2], jnp.full_like(points[:, 2:3], depth)], axis=1)
    h = flat @ intrinsics.T
    return h[:, :2] / h[:, 2:3]


def scaled_orthographic_project(
    points: Float[ArrayLike, "n 3"],
    *,
    scale: Float[ArrayLike, ""],
    rotation: Float[ArrayLike, "3 3"] | None = None,
    translation: Float[ArrayLike, "2"] | None = None,
) -> Float[Array, "n 2"]:
    r"""Scaled orthographic projection ``q = s (R p)_{xy} + t``.

    ``R`` maps ``points`` into the OpenCV camera frame (x right, y down), so for a model-frame
    face (y up) seen frontally use ``R = diag(1, -1, -1)`` times the head rotation.

    Args:
        points: (n, 3) points.
        scale: () pixels per unit length ``s`` > 0 (``f / zbar`` for a weak-perspective camera).
        rotation: optional (3, 3) rotation ``R``; default identity (points already in the
            camera frame).
        translation: optional (2,) pixel offset ``t``; default zero.

    Returns:
        (n, 2) image coordinates ``(u, v)``.
    """
    dtype = common_float_dtype(points, scale)
    points = as_float(points, "points", dtype)
    scale = as_float(scale, "scale", dtype)
    check_points(points, "points", 3)
    check_finite(points, "points")
    check_shape(scale, "scale", (), "() (a scalar)")
    check_positive(scale, "scale")
    if rotation is not None:
        rotation = as_float(rotation, "rotation", dtype)
        check_shape(rotation, "rotation", (3, 3), "(3, 3)")
        check_finite(rotation, "rotation")
        points = points @ rotation.T
    q = scale * points[:, :2]
    if translation is not None:
        translation = as_float(translation, "translation", dtype)
        check_shape(translation, "translation", (2,), "(2,)")
        check_finite(translation, "translation")
        q = q + translation[None, :]
    return q


def backproject(
    points_2d: Float[ArrayLike, "n 2"],
    intrinsics: Float[ArrayLike, "3 3"],
    depth: Float[ArrayLike, ""] | Float[ArrayLike, " n"],
) -> Float[Array, "n 3"]:
    r"""Back-projects pixels to camera-frame 3D points at a given depth (seed 000, eq. 3).

    .. math::
        (x, y, z)^\top = z\, W^{-1} (c, r, 1)^\top

    The paper prints the factor as ``1/z``; the geometry requires ``z`` (the ray
    ``W^{-1} (c, r, 1)^T`` has unit z component and is scaled out to depth ``z``). ``depth`` is
    either the scalar ``zbar`` of the weak-perspective model (the paper's hyper-parameter: all
    landmarks at the mean distance of the face) or one depth per point (exact inverse of
    :func:`perspective_project`). For an intrinsic matrix whose last row is not ``(0, 0, 1)``
    (e.g. an unnormalised one), the ray is rescaled so that the result still has z = depth.

    Args:
        points_2d: (n, 2) pixel coordinates ``(c, r) = (u, v)``.
        intrinsics: (3, 3) intrinsic matrix ``W`` (= ``K``), invertible.
        depth: () or (n,) depth(s) z > 0 along the optical axis.

    Returns:
        (n, 3) camera-frame points (x right, y down, z forward) with z = depth.
    """
    dtype = common_float_dtype(points_2d, intrinsics, depth)
    points_2d = as_float(points_2d, "points_2d", dtype)
    intrinsics = as_float(intrinsics, "intrinsics", dtype)
    depth = as_float(depth, "depth", dtype)
    check_points(points_2d, "points_2d", 2)
    check_finite(points_2d, "points_2d")
    _check_intrinsics(intrinsics)
    n = points_2d.shape[0]
    if depth.ndim == 0:
        depth = jnp.broadcast_to(depth, (n,))
    check_shape(depth, "depth", (n,), f"() or ({n},)")
    check_positive(depth, "depth")
    h = jnp.concatenate([points_2d, jnp.ones((n, 1), dtype=dtype)], axis=1)
    rays = jnp.linalg.solve(intrinsics, h.T).T
    return rays * (depth / rays[:, 2])[:, None]
