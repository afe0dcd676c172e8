r"""Video tracking with the top-down engine: the subject's neutral from the video itself, per-frame
fits against it, and the reduced-dynamics smoother (issue 16, DESIGN 9).

Per-frame fits (:meth:`TopDownEngine.fit`, seed 000 eq. 2) treat every frame alone, so the
coefficients of the AUs 2D landmarks barely see jump from frame to frame. A video is tracked in
three steps:

1. **Neutral** (:func:`estimate_neutral`): no frame is known to be neutral, so a spread of frames
   is fitted with the identity free; the least expressive fraction of them (lowest sum of AU
   levels) are taken as near-neutral and their median identity is the subject's
   (:class:`SubjectNeutral`). The median over the least expressive frames keeps an expression
   from leaking into the identity (a smile widens the mouth, which the identity basis can mimic).
2. **Per-frame fits** (:func:`fit_frames`) against that neutral: the identity is shared over time
   and the coefficients carry the expression only.
3. **Smoothing** (:class:`aujax.physics.CoefficientSmoother`): a Kalman/RTS smoother whose prior
   is the template's Galerkin dynamics ``M c'' + D c' + K c = g A^T s`` with a slowly varying
   drive s, hyper-parameters by maximum marginal likelihood (no labels), Huber-robust, projected
   onto [0, 5].

:func:`aujax.methods.topdown.reconstruct_coefficients` runs steps 1-2 per subject of a dataset
and step 3 per sequence with the same functions.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Bool, Float

from ...geometry import Camera
from ...physics import CoefficientSmoother
from ._engine import SubjectNeutral, TopDownEngine, TopDownResult


__all__ = ["TrackedSequence", "estimate_neutral", "fit_frames", "track_sequence"]


def fit_frames(
    engine: TopDownEngine,
    landmarks: Float[ArrayLike, "T k d"],
    *,
    camera: Camera | None = None,
    valid: Bool[ArrayLike, " T"] | None = None,
    neutral: SubjectNeutral | None = None,
    chunk: int = 256,
    bucket: bool = False,
) -> TopDownResult:
    """:meth:`TopDownEngine.fit` over many frames in chunks of one compiled shape.

    Args:
        engine: the top-down engine.
        landmarks: (T, k, d) landmarks (NaN where missing).
        camera: the camera for 2D landmarks.
        valid: optional (T,) mask (default: every frame).
        neutral: the subject's neutral, or None (identity fitted per frame).
        chunk: frames per engine call; the last chunk is padded with invalid frames.
        bucket: pad the last chunk only to the next power of two >= 16 (at most ``chunk``): a
            few compiled shapes instead of one, for callers with few frames (one photograph).

    Returns:
        :class:`TopDownResult` with numpy leaves, T frames.
    """
    lm = np.asarray(landmarks)
    t = lm.shape[0]
    ok = np.ones(t, bool) if valid is None else np.asarray(valid, bool)
    if ok.shape != (t,):
        raise ValueError(f"valid must have shape (T,) = ({t},), got {ok.shape}.")
    if t == 0:
        raise ValueError("landmarks: no frames.")
    outs = []
    for s in range(0, t, chunk):
        part, v = lm[s : s + chunk], ok[s : s + chunk]
        size = chunk
        if bucket:
            size = min(chunk, max(16, 1 << max(0, part.shape[0] - 1).bit_length()))
        pad = size - part.shape[0]
        if pad:
            part = np.concatenate([part, np.repeat(part[-1:], pad, 0)])
            v = np.concatenate([v, np.zeros(pad, bool)])
        r = engine.fit(jnp.asarray(part), camera=camera, valid=jnp.asarray(v), neutral=neutral)
        outs.append(jax.tree.map(lambda x, m=size - pad: np.asarray(x)[:m], r))
    return jax.tree.map(lambda *xs: np.concatenate(xs), *outs)


def estimate_neutral(
    engine: TopDownEngine,
    landmarks: Float[ArrayLike, "T k d"],
    *,
    camera: Camera | None = None,
    valid: Bool[ArrayLike, " T"] | None = None,
    frames: int = 48,
    fraction: float = 0.2,
) -> SubjectNeutral | None:
    r"""The subject's neutral reference from its own frames (no frame is known to be neutral).

    1. ``frames`` valid frames spread evenly over the input are fitted with the identity free
       (:meth:`TopDownEngine.fit` without a neutral);
    2. the ``ceil(fraction * n)`` successfully fitted frames with the lowest sum of AU levels
       ``sum_k a_k`` are the least expressive;
    3. their element-wise median identity ``beta`` gives ``pbar_s = pbar + sum_j beta_j e_j``.

    Args:
        engine: the top-down engine.
        landmarks: (T, k, d) the subject's frames (all its sequences).
        camera: the camera for 2D landmarks.
        valid: optional (T,) mask.
        frames: frames fitted in step 1 (one compiled chunk of ``frames`` rounded up to 16).
        fraction: the least expressive fraction kept in step 2 (1: the median over all).

    Returns:
        :class:`SubjectNeutral` (``residual``: RMS landmark residual of the kept frames;
        ``n_frames``: how many were kept), or None when no frame could be fitted.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}.")
    lm = np.asarray(landmarks)
    ok = np.ones(lm.shape[0], bool) if valid is None else np.asarray(valid, bool)
    ok = ok & np.all(np.isfinite(lm), axis=(1, 2))
    if not ok.any():
        return None
    pick = np.flatnonzero(ok)
    pick = pick[np.unique(np.linspace(0, pick.size - 1, min(frames, pick.size)).astype(int))]
    chunk = -(-frames // 16) * 16  # one compiled shape, little padding
    first = fit_frames(engine, lm[pick], camera=camera, valid=ok[pick], chunk=chunk)
    fitted = np.flatnonzero(np.asarray(first.valid))
    if fitted.size == 0:
        return None
    expressiveness = np.asarray(first.levels)[fitted].sum(axis=1)
    n_keep = int(np.ceil(fraction * fitted.size))
    keep = fitted[np.argsort(expressiveness, kind="stable")[:n_keep]]
    dtype = engine.neutral.dtype
    beta = jnp.asarray(np.median(np.asarray(first.identity)[keep], axis=0), dtype)
    residual = np.sqrt(np.mean(np.asarray(first.residual)[keep] ** 2))
    return SubjectNeutral(
        identity=beta,
        landmarks=engine.neutral + jnp.einsum("j,jkd->kd", beta, engine.identity_basis),
        residual=jnp.asarray(residual, dtype),
        n_frames=jnp.asarray(keep.size, jnp.int32),
    )


@struct.dataclass
class TrackedSequence:
    """A tracked video (leading axis T = frames).

    Attributes:
        levels: (T, K) smoothed AU levels = blendshape coefficients c(t), in [0, 5] (the
            per-frame levels where no smoother was given).
        frame_levels: (T, K) the per-frame fits' levels (0 on frames that could not be fitted).
        drive: (T, S) smoothed activation drive (a = A^T s), or None without a smoother.
        valid: (T,) the frame was fitted (smoothed levels are defined on every frame: gaps are
            bridged by the dynamics).
        neutral: the subject's neutral used by the per-frame fits (None: identity fitted per
            frame, ``shared_identity=False``).
        fit: the per-frame :class:`TopDownResult` (pose, residual, identity).
        smoother: the smoother with its fitted noise and settings, or None.
    """

    levels: Float[Array, "T K"]
    frame_levels: Float[Array, "T K"]
    drive: Float[Array, "T S"] | None
    valid: Bool[Array, " T"]
    neutral: SubjectNeutral | None
    fit: TopDownResult
    smoother: CoefficientSmoother | None = None


def track_sequence(
    engine: TopDownEngine,
    landmarks: Float[ArrayLike, "T k d"],
    *,
    camera: Camera | None = None,
    smoother: CoefficientSmoother | None = None,
    valid: Bool[ArrayLike, " T"] | None = None,
    neutral: SubjectNeutral | None = None,
    neutral_frames: int = 48,
    neutral_fraction: float = 0.2,
    shared_identity: bool = True,
    chunk: int = 256,
) -> TrackedSequence:
    """Tracks one video: neutral from the video, per-frame fits, reduced-dynamics smoothing.

    Args:
        engine: the top-down engine.
        landmarks: (T, k, d) landmarks of consecutive frames (NaN where missing).
        camera: the camera for 2D landmarks.
        smoother: the smoother (its noise and settings are fitted on this video when None: no
            labels); None returns the per-frame levels.
        valid: optional (T,) mask.
        neutral: the subject's neutral, if known (e.g. from other videos of the subject);
            default :func:`estimate_neutral` on this video.
        neutral_frames, neutral_fraction: see :func:`estimate_neutral`.
        shared_identity: fit every frame against one neutral (the video's, or ``neutral``);
            False fits the identity per frame and only smooths the levels. Observations whose
            shape varies with head pose beyond the model (a face-mesh network's guessed depth)
            read better per frame: a fixed neutral turns that variation into AU levels
            (``docs/detect.md``).
        chunk: frames per engine call.

    Returns:
        :class:`TrackedSequence`.

    Raises:
        ValueError: if no frame can be fitted.
    """
    lm = np.asarray(landmarks)
    if lm.ndim != 3:
        raise ValueError(f"landmarks must have shape (T, k, d), got {lm.shape}.")
    if neutral is None and shared_identity:
        neutral = estimate_neutral(engine, lm, camera=camera, valid=valid, frames=neutral_frames,
                                   fraction=neutral_fraction)  # fmt: skip
        if neutral is None:
            raise ValueError("landmarks: no frame could be fitted (all missing or invalid).")
    if not shared_identity:
        neutral = None
    fit = fit_frames(engine, lm, camera=camera, valid=valid, neutral=neutral, chunk=chunk)
    ok = np.asarray(fit.valid)
    frame_levels = np.where(ok[:, None], np.asarray(fit.levels, np.float64), 0.0)
    levels, drive = frame_levels, None
    if smoother is not None:
        smoother = smoother.fit(frame_levels[None], ok[None])
        c, s = smoother.smooth(frame_levels[None], ok[None])
        levels, drive = c[0], s[0]
    return TrackedSequence(
        levels=levels, frame_levels=frame_levels, drive=drive, valid=ok, neutral=neutral,
        fit=fit, smoother=smoother,
    )  # fmt: skip
