r"""Seed 003's losses (eqs. 4-8): AU-weighted landmarks, AU configural distances, AU feature
consistency, the parameter regulariser and their weighted total.

Every function handles one example (``jax.vmap`` for batches; the caller averages the batch) and
returns a scalar to minimise. Landmarks are iBUG-68 (:mod:`._landmark_groups`); the model's 3D
landmarks :math:`M` (68, 3) are already posed (the pose θ applied by the face model) and in the
frame whose x, y axes are the image axes of the detected landmarks :math:`k` (as DECA: both in
the same normalised crop coordinates), so the camera :math:`c = (s, t_x, t_y)` projects them
orthographically, :math:`s \Pi M + t` with :math:`\Pi = [I_2 \; 0]`.

**As printed.** Eq. 5 reads :math:`\lVert k_j - s\Pi(M_j) + t \rVert_1`; the sign of t is a
typo for :math:`k_j - (s\Pi(M_j) + t)`, the residual of the projection the text describes. Eqs.
5 and 6 are sums (over AUs and landmarks, over the 23 features), kept as printed: the weights
0.75 / 0.25 / 0.75 of §IV.A were chosen with these scales. Eq. 7 is the Euclidean (Frobenius)
norm of the whole (N, F) feature difference, not squared. Eq. 8 lists the camera c beside ψ and
θ, but §IV.A weights only ψ (1e-5) and θ (0.1): the camera's weight is a keyword, default 0 (a
unit weight would pull DECA's scale s, of order 5-10, towards 0 against the landmark terms).
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ...geometry import scaled_orthographic_project
from ._landmark_groups import _check_landmarks, au_group_matrix, configural_distances, safe_norm


__all__ = [
    "LOSS_WEIGHTS",
    "REGULARIZER_WEIGHTS",
    "au_feature_loss",
    "au_landmark_loss",
    "au_relative_distance_loss",
    "parameter_regularizer",
    "project_landmarks",
    "total_loss",
]

LOSS_WEIGHTS = {"landmark": 0.75, "relative": 0.25, "feature": 0.75}
"""§IV.A's weights of eq. 4's L_auLmk, L_auRel and L_auFeat (L_reg carries its own)."""

REGULARIZER_WEIGHTS = {"expression": 1e-5, "pose": 0.1, "camera": 0.0}
"""§IV.A's weights of eq. 8's terms; the camera's is not given (ours: 0)."""

_DEFAULT_GROUPS = au_group_matrix()


def _floating(x: ArrayLike, name: str) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must be floating-point, got dtype {x.dtype}")
    return x


def project_landmarks(
    landmarks_3d: Float[ArrayLike, "68 3"], camera: Float[ArrayLike, "3"]
) -> Float[Array, "68 2"]:
    r"""The orthographic camera of eqs. 5-6: :math:`s \Pi M + t`.

    Args:
      landmarks_3d: (68, 3) the model's posed landmarks M.
      camera: (3,) c = (s, t_x, t_y), the isotropic scale s > 0 and the 2D translation t.

    Returns:
      (68, 2) image points.
    """
    m = _floating(landmarks_3d, "landmarks_3d")
    c = _floating(camera, "camera")
    if m.shape != (68, 3):
        raise ValueError(f"landmarks_3d must have shape (68, 3), got {m.shape}")
    if c.shape != (3,):
        raise ValueError(f"camera must have shape (3,) (s, t_x, t_y), got {c.shape}")
    return scaled_orthographic_project(m, scale=c[0], translation=c[1:])


def au_landmark_loss(
    landmarks: Float[ArrayLike, "68 2"],
    landmarks_3d: Float[ArrayLike, "68 3"],
    camera: Float[ArrayLike, "3"],
    probabilities: Float[ArrayLike, " n_aus"],
    *,
    groups: Float[ArrayLike, "n_aus 68"] | None = None,
) -> Float[Array, ""]:
    r"""Eq. 5, the AU-weighted landmark reprojection loss :math:`L_{auLmk}`.

    .. math::

       L_{auLmk} = \sum_{i=1}^{N} p_i \sum_{j \in \mathcal{L}_i}
       \lVert k_j - (s \Pi M_j + t) \rVert_1
       = \sum_{j=1}^{68} \Big(\sum_i p_i G_{ij}\Big) \lVert k_j - (s \Pi M_j + t) \rVert_1,

    :math:`\mathcal{L}_i` the landmark group of AU i (Table 1, :func:`au_group_matrix`), p_i the
    detector's probability of AU i. A landmark outside the groups of the active AUs does not
    count; a landmark in several groups counts once per group; with every p_i = 1 each group
    weighs 1.

    Args:
      landmarks: (68, 2) detected image landmarks k.
      landmarks_3d: (68, 3) the model's posed landmarks M.
      camera: (3,) c = (s, t_x, t_y).
      probabilities: (n_aus,) p_i in [0, 1], in the order of ``groups``' rows.
      groups: (n_aus, 68) 0/1 membership G; None: DISFA's twelve AUs
        (``au_group_matrix()``).

    Returns:
      () the loss.
    """
    k = _check_landmarks(landmarks, "landmarks")
    p = _floating(probabilities, "probabilities")
    g = _DEFAULT_GROUPS if groups is None else groups
    if jnp.ndim(g) != 2 or jnp.shape(g)[1] != 68:
        raise ValueError(f"groups must have shape (n_aus, 68), got {jnp.shape(g)}")
    if p.shape != (jnp.shape(g)[0],):
        raise ValueError(
            f"probabilities must have shape ({jnp.shape(g)[0]},) (one per row of groups), "
            f"got {p.shape}"
        )
    residual = jnp.sum(jnp.abs(k - project_landmarks(landmarks_3d, camera)), axis=-1)  # (68,)
    weights = p @ jnp.asarray(g, p.dtype)  # (68,)
    return jnp.sum(weights * residual)


def au_relative_distance_loss(
    landmarks: Float[ArrayLike, "68 2"],
    landmarks_3d: Float[ArrayLike, "68 3"],
    camera: Float[ArrayLike, "3"],
) -> Float[Array, ""]:
    r"""Eq. 6, the AU-based relative distance loss :math:`L_{auRel}`.

    .. math::

       L_{auRel} = \sum_{i=1}^{23} \big| c_i(k) - c_i(s \Pi M + t) \big|,

    with our 23 configural distances :math:`c_i` (:func:`configural_distances`, normalised by
    the inter-ocular distance, so the camera's s and t cancel: only M's shape and pose count).

    Args:
      landmarks: (68, 2) detected image landmarks k.
      landmarks_3d: (68, 3) the model's posed landmarks M.
      camera: (3,) c = (s, t_x, t_y).

    Returns:
      () the loss.
    """
    projected = project_landmarks(landmarks_3d, camera)
    ck = configural_distances(landmarks)
    cm = configural_distances(projected)
    return jnp.sum(jnp.abs(ck - cm))


def au_feature_loss(
    features: Float[ArrayLike, "n_nodes f"], render_features: Float[ArrayLike, "n_nodes f"]
) -> Float[Array, ""]:
    r"""Eq. 7, the AU feature loss :math:`L_{auFeat} = \lVert AFG(I) - AFG(I_{Re}) \rVert_2`.

    The Euclidean norm of the whole difference of the detector's AU node features of the input
    image and of the rendered image (not squared; gradient 0, not NaN, at equality).

    Args:
      features: (N, F) AFG(I), the node features of the input (any shape; both alike).
      render_features: (N, F) AFG(I_Re), those of the render.

    Returns:
      () the loss.
    """
    a = _floating(features, "features")
    b = _floating(render_features, "render_features")
    if a.shape != b.shape:
        raise ValueError(
            f"features and render_features must have the same shape, got {a.shape} and {b.shape}"
        )
    return safe_norm(jnp.reshape(a - b, (-1,)))


def parameter_regularizer(
    expression: Float[ArrayLike, " n_exp"],
    pose: Float[ArrayLike, " n_pose"],
    camera: Float[ArrayLike, "3"],
    *,
    expression_weight: float = REGULARIZER_WEIGHTS["expression"],
    pose_weight: float = REGULARIZER_WEIGHTS["pose"],
    camera_weight: float = REGULARIZER_WEIGHTS["camera"],
) -> Float[Array, ""]:
    r"""Eq. 8, the parameter regulariser with §IV.A's weights.

    .. math::

       L_{reg} = \lambda_\psi \lVert \psi \rVert_2^2 + \lambda_\theta \lVert \theta \rVert_2^2
       + \lambda_c \lVert c \rVert_2^2, \qquad \lambda_\psi = 10^{-5},\ \lambda_\theta = 0.1,\
       \lambda_c = 0 \text{ (not given; ours)}.

    Args:
      expression: (n_exp,) ψ.
      pose: (n_pose,) θ.
      camera: (3,) c.
      expression_weight: λ_ψ.
      pose_weight: λ_θ.
      camera_weight: λ_c.

    Returns:
      () the regulariser.
    """
    terms = []
    for x, name, w in (
        (expression, "expression", expression_weight),
        (pose, "pose", pose_weight),
        (camera, "camera", camera_weight),
    ):
        x = _floating(x, name)
        if x.ndim != 1:
            raise ValueError(f"{name} must be a vector (n,), got shape {x.shape}")
        if not w >= 0:
            raise ValueError(f"{name}_weight must be >= 0, got {w}")
        terms.append(w * jnp.sum(x * x))
    return terms[0] + terms[1] + terms[2]


def total_loss(
    landmark: Float[ArrayLike, ""],
    relative: Float[ArrayLike, ""],
    feature: Float[ArrayLike, ""],
    regularizer: Float[ArrayLike, ""],
    *,
    landmark_weight: float = LOSS_WEIGHTS["landmark"],
    relative_weight: float = LOSS_WEIGHTS["relative"],
    feature_weight: float = LOSS_WEIGHTS["feature"],
) -> Float[Array, ""]:
    r"""Eq. 4, the total loss with §IV.A's weights.

    .. math::

       L_{total} = 0.75\, L_{auLmk} + 0.25\, L_{auRel} + 0.75\, L_{auFeat} + L_{reg}.

    Args:
      landmark: () L_auLmk (eq. 5, :func:`au_landmark_loss`).
      relative: () L_auRel (eq. 6, :func:`au_relative_distance_loss`).
      feature: () L_auFeat (eq. 7, :func:`au_feature_loss`).
      regularizer: () L_reg (eq. 8, :func:`parameter_regularizer`, weighted already).
      landmark_weight, relative_weight, feature_weight: the weights of the first three.

    Returns:
      () the total.
    """
    terms = [
        _floating(x, n)
        for x, n in (
            (landmark, "landmark"),
            (relative, "relative"),
            (feature, "feature"),
            (regularizer, "regularizer"),
        )
    ]
    for x, n in zip(terms, ("landmark", "relative", "feature", "regularizer"), strict=True):
        if x.shape != ():
            raise ValueError(f"{n} must be a scalar loss, got shape {x.shape}")
    return (
        landmark_weight * terms[0]
        + relative_weight * terms[1]
        + feature_weight * terms[2]
        + terms[3]
    )
