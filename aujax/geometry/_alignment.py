r"""Rigid and similarity alignment of 3D point sets: Kabsch, Umeyama, head-pose removal (seed 000, eq. 4).

All functions handle one point set (n, 3) and are frame-agnostic: they align whatever frame the
two sets share with the frame of ``target`` / ``neutral`` / ``reference``. In the top-down engine
(DESIGN 5) the observed landmarks are in the camera frame (x right, y down, z forward, from
:func:`backproject`) and the reference is either the subject's neutral face in the same frame
(:func:`remove_head_pose`) or the blendshape model frame (x toward the subject's left, y up,
z toward the camera; :func:`register_similarity`).

The closed-form solution (Umeyama 1991, "Least-squares estimation of transformation parameters
between two point patterns", IEEE TPAMI 13(4)) is

.. math::
    \mu_s = \sum_i w_i s_i,\quad \mu_t = \sum_i w_i t_i,\quad
    \Sigma = \sum_i w_i (t_i - \mu_t)(s_i - \mu_s)^\top = U D V^\top,

    R = U\,\mathrm{diag}(1, 1, \det(U V^\top))\,V^\top,\quad
    c = \frac{\mathrm{tr}(D\,\mathrm{diag}(1, 1, \det(U V^\top)))}{\sum_i w_i |s_i - \mu_s|^2},
    \quad T = \mu_t - c R \mu_s

with normalised weights ``w``. The sign correction makes ``R`` a proper rotation (det +1) even
when the best orthogonal map would be a reflection. Kabsch is the same with ``c = 1``.
Gradients flow through the SVD; they are well defined when the singular values of ``Sigma``
are distinct (generic, non-symmetric point sets).
"""

import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float, Int

from .._checks import as_float, check_finite, check_shape, is_concrete
from ._checks import (
    check_affine_rank,
    check_indices,
    check_min_points,
    check_points,
    check_same_length,
    common_float_dtype,
)


__all__ = [
    "SimilarityTransform",
    "kabsch",
    "register_similarity",
    "remove_head_pose",
    "umeyama",
]


@struct.dataclass
class SimilarityTransform:
    """The map ``p -> s R p + t`` on 3D points; every field is a differentiable leaf.

    Attributes:
        scale: () positive scale ``s`` (1 for a rigid transform).
        rotation: (3, 3) proper rotation ``R``.
        translation: (3,) translation ``t``.
    """

    scale: Float[Array, ""]
    rotation: Float[Array, "3 3"]
    translation: Float[Array, "3"]

    @classmethod
    def identity(cls, dtype=None) -> "SimilarityTransform":
        """The identity transform (``s = 1``, ``R = I``, ``t = 0``) of floating ``dtype``."""
        dtype = jnp.zeros((), dtype=dtype if dtype is not None else float).dtype
        return cls(
            scale=jnp.ones((), dtype=dtype),
            rotation=jnp.eye(3, dtype=dtype),
            translation=jnp.zeros(3, dtype=dtype),
        )

    def apply(self, points: Float[Array, "n 3"]) -> Float[Array, "n 3"]:
        """Applies ``s R p + t`` to each row of ``points`` (n, 3)."""
        return self.scale * (points @ self.rotation.T) + self.translation[None, :]

    def inverse(self) -> "SimilarityTransform":
        """The inverse map ``q -> (1/s) R^T (q - t)``."""
        inv_scale = 1.0 / self.scale
        rot_t = self.rotation.T
        return SimilarityTransform(
            scale=inv_scale, rotation=rot_t, translation=-inv_scale * (rot_t @ self.translation)
        )

    def compose(self, inner: "SimilarityTransform") -> "SimilarityTransform":
        """The transform ``p -> self(inner(p))``."""
        return SimilarityTransform(
            scale=self.scale * inner.scale,
            rotation=self.rotation @ inner.rotation,
            translation=self.scale * (self.rotation @ inner.translation) + self.translation,
        )

    def matrix(self) -> Float[Array, "4 4"]:
        """The (4, 4) homogeneous matrix ``[[s R, t], [0, 1]]``."""
        top = jnp.concatenate([self.scale * self.rotation, self.translation[:, None]], axis=1)
        bottom = jnp.zeros((1, 4), dtype=top.dtype).at[0, 3].set(1.0)
        return jnp.concatenate([top, bottom], axis=0)


def _prepare(source, target, weights):
    """Casts, checks shapes and (when concrete) values of a correspondence problem."""
    dtype = common_float_dtype(source, target)
    source = as_float(source, "source", dtype)
    target = as_float(target, "target", dtype)
    check_points(source, "source", 3)
    check_points(target, "target", 3)
    check_same_length(source, "source", target, "target")
    check_min_points(source, "source", 3, "a rotation fit")
    check_finite(source, "source")
    check_finite(target, "target")
    if weights is None:
        weights = jnp.ones(source.shape[0], dtype=dtype)
        concrete_weights = None
    else:
        weights = as_float(weights, "weights", dtype)
        check_shape(weights, "weights", (source.shape[0],), f"({source.shape[0]},)")
        concrete_weights = None
        if is_concrete(weights):
            w = np.asarray(weights)
            if not (np.all(np.isfinite(w)) and np.all(w >= 0) and np.sum(w > 0) >= 3):
                raise ValueError(
                    "weights must be finite and non-negative with at least 3 positive entries."
                )
            concrete_weights = w
    what = "collinear (at least 3 non-collinear points with positive weight are needed)"
    check_affine_rank(source, "source", 2, what, concrete_weights)
    check_affine_rank(target, "target", 2, what, concrete_weights)
    return source, target, weights


def _fit(source, target, weights, with_scale: bool) -> SimilarityTransform:
    """Weighted Umeyama / Kabsch on validated arrays (see the module docstring)."""
    w = weights / jnp.sum(weights)
    mu_s = w @ source
    mu_t = w @ target
    xs = source - mu_s[None, :]
    xt = target - mu_t[None, :]
    cov = (xt * w[:, None]).T @ xs
    u, d, vt = jnp.linalg.svd(cov)
    sign = jnp.sign(jnp.linalg.det(u) * jnp.linalg.det(vt))
    sign = jnp.where(sign == 0, jnp.ones_like(sign), sign)
    one = jnp.ones((), dtype=cov.dtype)
    e = jnp.stack([one, one, sign])
    rotation = (u * e[None, :]) @ vt
    if with_scale:
        var_s = jnp.sum(w * jnp.sum(xs * xs, axis=1))
        scale = jnp.sum(d * e) / var_s
    else:
        scale = one
    translation = mu_t - scale * (rotation @ mu_s)
    return SimilarityTransform(scale=scale, rotation=rotation, translation=translation)


def kabsch(
    source: Float[ArrayLike, "n 3"],
    target: Float[ArrayLike, "n 3"],
    *,
    weights: Float[ArrayLike, " n"] | None = None,
) -> SimilarityTransform:
    r"""Best rigid transform from ``source`` onto ``target`` (Kabsch 1976), scale fixed to 1.

    .. math::
        R^*, t^* = \arg\min_{R \in SO(3),\, t} \sum_i w_i |R s_i + t - t_i|^2

    Reflections are rejected by the sign correction: ``R`` is always a proper rotation
    (det +1), also when ``target`` is a mirror image of ``source``.

    Args:
        source: (n, 3) points, n >= 3, not all collinear.
        target: (n, 3) corresponding points (same frame convention as the result).
        weights: optional (n,) non-negative weights (at least 3 positive); default uniform.

    Returns:
        A :class:`SimilarityTransform` with ``scale = 1``.

    Raises:
        ValueError: wrong shapes, mismatched n, fewer than 3 points, non-finite values,
            invalid weights or collinear points (value checks only outside jit/vmap).
    """
    source, target, weights = _prepare(source, target, weights)
    return _fit(source, target, weights, with_scale=False)


def umeyama(
    source: Float[ArrayLike, "n 3"],
    target: Float[ArrayLike, "n 3"],
    *,
    weights: Float[ArrayLike, " n"] | None = None,
    with_scale: bool = True,
) -> SimilarityTransform:
    r"""Best similarity transform from ``source`` onto ``target`` (Umeyama 1991).

    .. math::
        c^*, R^*, t^* = \arg\min_{c > 0,\, R \in SO(3),\, t} \sum_i w_i |c R s_i + t - t_i|^2

    Closed form in the module docstring; ``with_scale=False`` gives :func:`kabsch`.

    Args:
        source: (n, 3) points, n >= 3, not all collinear.
        target: (n, 3) corresponding points.
        weights: optional (n,) non-negative weights (at least 3 positive); default uniform.
        with_scale: estimate the scale ``c`` (else ``c = 1``).

    Returns:
        The :class:`SimilarityTransform` ``(c, R, t)``.

    Raises:
        ValueError: as :func:`kabsch`.
    """
    source, target, weights = _prepare(source, target, weights)
    return _fit(source, target, weights, with_scale=with_scale)


def _prepare_pair(points, other, other_name: str, rigid_indices):
    dtype = common_float_dtype(points, other)
    points = as_float(points, "points", dtype)
    other = as_float(other, other_name, dtype)
    check_points(points, "points", 3)
    check_points(other, other_name, 3)
    if points.shape != other.shape:
        raise ValueError(
            f"points and {other_name} must have the same shape (the same landmarks), "
            f"got {points.shape} and {other.shape}."
        )
    idx = check_indices(rigid_indices, "rigid_indices", points.shape[0], 3)
    return points, other, idx


def remove_head_pose(
    points: Float[ArrayLike, "n 3"],
    neutral: Float[ArrayLike, "n 3"],
    *,
    rigid_indices: Int[ArrayLike, " m"],
) -> tuple[Float[Array, "n 3"], SimilarityTransform]:
    r"""Removes the rigid head motion of ``points`` relative to the ``neutral`` face (seed 000, eq. 4).

    The paper solves, on a subset of landmarks that move rigidly (nose bridge and tip, eye
    corners),

    .. math::
        R_A, T_A = \arg\min_{R, T}\; \|\bar p_s - R p_s - T\| + \|R^\top \bar p_s - R^\top T - p_s\|

    and aligns every landmark as ``p_{s+a} = R_A p_s + T_A``. For a true rotation the two terms
    are equal (a rotation preserves norms: ``R^T pbar - R^T T - p = R^T (pbar - R p - T)``), so
    the minimiser is the closed-form Kabsch solution on the rigid subset, which is what this
    function computes (:func:`kabsch`, least squares, proper rotation).

    Both sets are in the same frame (in the engine: the camera frame, x right, y down,
    z forward, after :func:`backproject`); non-rigid landmarks may move freely without biasing the
    fit because only ``rigid_indices`` enter it.

    Args:
        points: (n, 3) observed landmarks ``p_s``.
        neutral: (n, 3) neutral landmarks ``pbar_s`` of the same subject, same landmark order.
        rigid_indices: (m,) integer indices in [0, n) of the rigid subset, m >= 3, not collinear.

    Returns:
        ``(aligned, transform)``: the aligned landmarks ``R_A p_s + T_A`` (n, 3) for all points,
        and the rigid :class:`SimilarityTransform` (scale 1).
    """
    points, neutral, idx = _prepare_pair(points, neutral, "neutral", rigid_indices)
    transform = kabsch(points[idx], neutral[idx])
    return transform.apply(points), transform


def register_similarity(
    points: Float[ArrayLike, "n 3"],
    reference: Float[ArrayLike, "n 3"],
    *,
    rigid_indices: Int[ArrayLike, " m"],
) -> tuple[Float[Array, "n 3"], SimilarityTransform]:
    r"""Registers landmarks into the frame of ``reference`` by a similarity on the rigid subset.

    Seed 000, section 2.1 registers the pose-free landmarks into the blendshape frame as
    ``p = R_E p_{s+a} + T_E``; here the transform also carries a scale (the subject's size and
    the weak-perspective depth ``zbar`` are not known exactly), estimated with :func:`umeyama`
    on the rigid landmarks only:

    .. math::
        c_E, R_E, T_E = \arg\min_{c, R, T} \sum_{i \in \text{rigid}} |c R p_i + T - r_i|^2

    Args:
        points: (n, 3) landmarks (e.g. camera frame, after :func:`remove_head_pose`).
        reference: (n, 3) the same landmarks in the target frame (e.g. the blendshape model's
            neutral landmarks: x toward the subject's left, y up, z toward the camera).
        rigid_indices: (m,) integer indices in [0, n) of the rigid subset, m >= 3, not collinear.

    Returns:
        ``(registered, transform)``: ``c_E R_E p + T_E`` (n, 3) for all points and the
        :class:`SimilarityTransform`.
    """
    points, reference, idx = _prepare_pair(points, reference, "reference", rigid_indices)
    transform = umeyama(points[idx], reference[idx], with_scale=True)
    return transform.apply(points), transform


def scaled_orthographic_pose(
    points: Float[ArrayLike, "n 3"],
    image: Float[ArrayLike, "n 2"],
    *,
    weights: Float[ArrayLike, " n"] | None = None,
) -> SimilarityTransform:
    r"""Pose of a 3D point set from its 2D image under scaled orthography ("linear solver").

    Fits the affine camera ``q_i ~ A (p_i - \bar p) + b`` (A: 2 x 3, weighted linear least
    squares), then projects A onto the scaled-orthographic cameras: ``A = U S V^T``,
    ``[r_1; r_2] = U V^T``, ``s = (S_1 + S_2) / 2``, ``r_3 = r_1 x r_2`` (the orthonormalisation of
    seed 004, eq. 6). Returned as the similarity from the point frame to an orthographic camera
    frame whose x, y are the image's: ``X = s R p + t`` with ``t = (b - s (R \bar p)_{xy}, 0)``;
    the depth of the image plane is not observable and is 0.

    With normalised image coordinates (rays ``K^{-1} [u, v, 1]``) of a perspective camera, ``1/s``
    is the mean depth of the points: the start of a perspective pose that holds at any yaw,
    unlike a 3D alignment to landmarks lifted to one depth (which sees no rotation out of the
    image plane).

    Args:
        points: (n, 3) model points, n >= 4 and not coplanar.
        image: (n, 2) their image coordinates.
        weights: optional (n,) non-negative weights (0 drops a point).

    Returns:
        :class:`SimilarityTransform` (scale s > 0, proper rotation R).
    """
    p = jnp.asarray(points)
    q = jnp.asarray(image).astype(p.dtype)
    w = jnp.ones(p.shape[0], p.dtype) if weights is None else jnp.asarray(weights, p.dtype)
    w = w / jnp.sum(w)
    p_bar = jnp.sum(w[:, None] * p, axis=0)
    q_bar = jnp.sum(w[:, None] * q, axis=0)
    pc, qc = p - p_bar[None], q - q_bar[None]
    gram = (pc * w[:, None]).T @ pc  # (3, 3)
    rhs = (pc * w[:, None]).T @ qc  # (3, 2)
    a = jnp.linalg.solve(gram, rhs).T  # (2, 3)
    u, s, vt = jnp.linalg.svd(a, full_matrices=False)
    r12 = u @ vt
    rotation = jnp.concatenate([r12, jnp.cross(r12[0], r12[1])[None]], axis=0)
    scale = jnp.mean(s)
    t_xy = q_bar - scale * (rotation @ p_bar)[:2]
    translation = jnp.concatenate([t_xy, jnp.zeros((1,), p.dtype)])
    return SimilarityTransform(scale=scale, rotation=rotation, translation=translation)
