"""Seed 002 on a real photograph: its 3DMM parameters, and agreement scores with binary labels.

A photograph has no video around it, so the experiment's extraction (section 4.2,
:func:`extract_subject`: the identity from a subject's least expressive frames, then the
expressions of every frame) runs on **one** frame: :func:`photo_parameters` fits the identity
``x_id``, the expression ``x_exp`` and the camera jointly to its landmarks (:func:`fit_identity`
with ``K = 1``; the expression at the joint optimum is the one :func:`fit_expressions` gives for
that identity), with the experiment's priors. What one photo allows: the landmarks of one face
do not separate who the person is from what the face does (a wide mouth, or a smile? a long
face, or an open jaw?); only the priors ``lambda_id x_id^T P_id x_id`` and
``lambda_exp x_exp^T P_exp x_exp`` divide the shape between the two, so a smile seen once is
partly absorbed by the identity, and an expression read from a single photo is a weaker signal
than one read against the same person's neutral frames. 68 iBUG points (a detector's) are
reduced to DISFA's 66 (the inner mouth corners 60 and 64 dropped,
:func:`aujax.face.landmark_subset`) so that the photo is fitted on the experiment's scheme.

:func:`binary_scores` scores a per-photo AU intensity against a 0/1 label: ROC AUC (threshold
free: the Mann-Whitney probability that a positive photo scores above a negative one, ties
counted half) and the accuracy of ``intensity >= threshold`` at a threshold fixed in advance.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float

from ...face import MorphableModel, landmark_subset
from ...geometry import SimilarityTransform
from ._extract import DEFAULT_LAMBDA_EXP, DEFAULT_LAMBDA_ID, fit_identity


__all__ = ["PhotoParameters", "binary_scores", "photo_parameters"]


@struct.dataclass
class PhotoParameters:
    """The 3DMM parameters of one photographed face (:func:`photo_parameters`).

    Attributes:
        x_id: (n_id,) identity coefficients.
        x_exp: (n_exp,) expression coefficients.
        camera: scaled-orthographic camera, model frame -> photo pixels (y down):
            ``q = s [R v]_xy + t_xy``.
        landmarks: (66, 2) the landmarks fitted (DISFA's scheme), photo pixels.
        projected: (66, 2) the model's landmarks at the fit, projected by ``camera``.
        residual: () RMS reprojection error over the landmarks, pixels.
    """

    x_id: Float[Array, " n_id"]
    x_exp: Float[Array, " n_exp"]
    camera: SimilarityTransform
    landmarks: Float[Array, "66 2"]
    projected: Float[Array, "66 2"]
    residual: Float[Array, ""]


def photo_parameters(
    model: MorphableModel,
    landmarks: Float[ArrayLike, "L 2"],
    *,
    lambda_id: float = DEFAULT_LAMBDA_ID,
    lambda_exp: float = DEFAULT_LAMBDA_EXP,
    n_iterations: int = 20,
) -> PhotoParameters:
    """Identity, expression and camera of one face from its landmarks (section 4.2, one frame).

    :func:`fit_identity` on the single frame: the joint problem of section 4.2's identity fit
    with ``K = 1`` (identity, expression and camera together; at its optimum the expression is
    also :func:`fit_expressions`' for that identity, so :func:`extract_subject`'s second pass
    would not move it; module docstring for what one photo allows).

    Args:
        model: the experiment's morphable model (:func:`load_model`).
        landmarks: (68, 2) iBUG-68 points (reduced to DISFA's 66) or (66, 2) DISFA points, photo
            pixels; all finite.
        lambda_id: identity prior weight (the experiment's ``extract.lambda_id``).
        lambda_exp: expression prior weight (``extract.lambda_exp``).
        n_iterations: Levenberg-Marquardt steps of the joint fit.

    Returns:
        :class:`PhotoParameters`.

    Raises:
        ValueError: landmarks not (68, 2) or (66, 2), or not finite.
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 2 or lm.shape not in ((68, 2), (66, 2)):
        raise ValueError(f"landmarks must have shape (68, 2) (iBUG) or (66, 2) (DISFA), got "
                         f"{lm.shape}.")  # fmt: skip
    if not np.all(np.isfinite(lm)):
        raise ValueError("landmarks must be finite.")
    if lm.shape[0] == 68:
        lm = landmark_subset(lm, 66)
    dtype = model.mean_shape.dtype
    pts = np.asarray(lm, dtype)[None]
    x_id, x_exp, cams = fit_identity(model, pts, lambda_id=lambda_id, lambda_exp=lambda_exp,
                                     n_iterations=n_iterations)  # fmt: skip
    camera = jax.tree.map(lambda a: a[0], cams)
    mean, a_id, a_exp = model.landmark_bases(scheme=66)
    shape = mean + a_id @ x_id + a_exp @ x_exp[0]
    projected = camera.scale * (shape @ camera.rotation[:2].T) + camera.translation[None, :2]
    residual = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(projected - pts[0]), axis=1)))
    return PhotoParameters(x_id=x_id, x_exp=x_exp[0], camera=camera, landmarks=pts[0],
                           projected=projected, residual=residual)  # fmt: skip


def binary_scores(
    scores: Float[ArrayLike, " n"], labels: ArrayLike, *, threshold: float = 1.0
) -> dict:
    """Agreement of per-item scores (e.g. AU intensities) with 0/1 labels.

    Args:
        scores: (n,) finite scores.
        labels: (n,) labels 0 / 1 (bool or int).
        threshold: ``score >= threshold`` is the positive call (fixed in advance).

    Returns:
        ``{"n_pos", "n_neg", "auc", "accuracy", "mean_pos", "mean_neg"}``: ``auc`` the ROC AUC
        (the Mann-Whitney statistic, ties half; NaN without both classes), ``accuracy`` the
        fraction with ``(score >= threshold) == label``, ``mean_pos`` / ``mean_neg`` the mean
        score of each class (NaN if empty).

    Raises:
        ValueError: mismatched shapes, labels other than 0 / 1, non-finite scores, no items.
    """
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.shape != s.shape or s.size == 0:
        raise ValueError(f"scores and labels must have one shape (n,), n >= 1, got {s.shape} and "
                         f"{y.shape}.")  # fmt: skip
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite.")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1.")
    pos, neg = s[y == 1], s[y == 0]
    if pos.size and neg.size:
        diff = pos[:, None] - neg[None, :]
        auc = float(np.mean((diff > 0) + 0.5 * (diff == 0)))
    else:
        auc = float("nan")
    return {"n_pos": int(pos.size), "n_neg": int(neg.size), "auc": auc,
            "accuracy": float(np.mean((s >= float(threshold)) == (y == 1))),
            "mean_pos": float(pos.mean()) if pos.size else float("nan"),
            "mean_neg": float(neg.mean()) if neg.size else float("nan")}  # fmt: skip
