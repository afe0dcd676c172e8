"""Training AUGANE's GANE (eqs. 1-8) and the EMOCA-like baseline through the soft renderer.

Both train against a **frozen** AU detector (:class:`AUDetector`, eval mode: BatchNorm running
statistics, no parameter updates) that sees the soft render of the current reconstruction; the
gradient of eq. 7 flows through the detector into the render and from there, through
:func:`aujax.render.soft_render`, into the face parameters.

* **GANE** (:func:`train_gane`): the AU nodes ``V_AFG`` of the input (the detector's, eq. 1) and
  the global feature ``X`` of the DECA-like encoder (eq. 2) are computed once, outside the step
  (both networks are frozen: this is exact, not an approximation). GANE regresses ψ, θ, c; the
  identity, albedo and light come from the DECA-like encoder (§IV.A: "DECA predicts the shape,
  light, albedo"). Loss: eq. 4 = 0.75 eq. 5 + 0.25 eq. 6 + 0.75 eq. 7 + eq. 8.
* **EMOCA-like** (:func:`train_emoca`): a copy of the DECA-like encoder whose expression output
  is fine-tuned with eq. 7 alone (EMOCA fine-tunes an expression encoder with an emotion-feature
  consistency loss; here the AU detector's features are that "perceptual" feature); every other
  parameter is the DECA-like encoder's.

Parametrisation (ours; the paper regresses FLAME's ψ, θ and DECA's camera directly):

* ψ: GANE's expression output times the model's per-axis expression standard deviation, so the
  network (and eq. 8's ``‖ψ‖²``) works in prior units, as FLAME's coefficients are;
* θ: an axis-angle head rotation (3; our model has no jaw joint: the jaw is in the expression
  space, so DECA's 6-d pose is 3-d here);
* c = (s, t_x, t_y): ``s = s0 exp(c_0)``, ``t = t0 + (S/4) c_{1:2}`` around the reference
  camera (:func:`reference_camera`), exactly as the DECA-like encoder's camera head; eq. 8's
  ``‖c‖²`` is taken on the raw output (weight 0 by default: the paper gives none).
* GANE's three linear heads start at zero (ours): the untrained GANE predicts the mean
  expression under the reference camera, a valid face, instead of a random one.

Eqs. 5-6 take the model's posed landmarks M in a frame whose x, y axes are the image axes and
``c = (s, t_x, t_y)``: with the orthographic camera's ``u = s x + t_x``, ``v = t_y - s y``
(:class:`aujax.geometry.OrthoCamera`), ``M = diag(1, -1, 1) R L`` for the model-frame landmarks
L (:func:`posed_landmarks`), so that ``s Π M + t`` is the decoded 2D landmarks.
"""

import dataclasses
import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, ArrayLike, Float

from ...face import MorphableModel
from ...geometry import rotation_from_axis_angle
from ...render import SoftBlend
from ...train import TrainState, make_eval_step, make_train_step, predict_in_batches
from ._common import check_images, check_positive_int, check_typed_key, train_network
from ._detector import AUDetector
from ._encoder import (
    EncoderConfig,
    FaceParams,
    GlobalEncoder,
    _as_float32,
    decode,
    raw_to_params,
)
from ._gane import GANE, GANEOutput
from ._landmark_groups import au_group_matrix
from ._losses import (
    LOSS_WEIGHTS,
    REGULARIZER_WEIGHTS,
    au_feature_loss,
    au_landmark_loss,
    au_relative_distance_loss,
    parameter_regularizer,
    total_loss,
)


__all__ = [
    "GANEConfig",
    "feature_consistency",
    "gane_loss",
    "gane_params",
    "posed_landmarks",
    "predict_emoca",
    "predict_gane",
    "render_faces",
    "train_emoca",
    "train_gane",
]

_EVAL_BATCH = 64
_FLIP_Y = (1.0, -1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class GANEConfig:
    """GANE's network, losses, renderer and optimiser (module docstring; paper §IV.A).

    Attributes:
        gat_layers, gat_heads, transformer_depth, transformer_heads, mlp_ratio, dropout: GANE's
            graph attention and transformer (the paper is silent; :class:`GANE`'s defaults).
        landmark_weight, relative_weight, feature_weight: eq. 4's weights (paper 0.75 / 0.25 /
            0.75).
        expression_reg, pose_reg, camera_reg: eq. 8's weights (paper 1e-5 / 0.1 / not given:
            0).
        sigma, gamma, k: the soft rasterizer (:class:`aujax.render.SoftBlend`), as the DECA-like
            encoder's photometric loss uses it.
        lr: peak AdamW learning rate (warm-up, cosine decay; the paper: Adam at 1e-5 for 15
            epochs of 300k images, far more steps than a CPU run affords).
        warmup: warm-up steps.
        checkpoint_every, log_every: checkpoint and log intervals in steps.
    """

    gat_layers: int = 2
    gat_heads: int = 4
    transformer_depth: int = 2
    transformer_heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    landmark_weight: float = LOSS_WEIGHTS["landmark"]
    relative_weight: float = LOSS_WEIGHTS["relative"]
    feature_weight: float = LOSS_WEIGHTS["feature"]
    expression_reg: float = REGULARIZER_WEIGHTS["expression"]
    pose_reg: float = REGULARIZER_WEIGHTS["pose"]
    camera_reg: float = REGULARIZER_WEIGHTS["camera"]
    sigma: float = 0.1
    gamma: float = 1e-4
    k: int = 4
    lr: float = 1e-4
    warmup: int = 20
    checkpoint_every: int = 100
    log_every: int = 50

    def __post_init__(self):
        for name in ("gat_layers", "gat_heads", "transformer_depth", "transformer_heads", "k",
                     "checkpoint_every", "log_every"):  # fmt: skip
            check_positive_int(getattr(self, name), name)
        for name in ("landmark_weight", "relative_weight", "feature_weight", "expression_reg",
                     "pose_reg", "camera_reg", "dropout"):  # fmt: skip
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}.")
        for name in ("sigma", "gamma", "lr", "mlp_ratio"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive, got {v!r}.")

    @property
    def blend(self) -> SoftBlend:
        return SoftBlend(sigma=self.sigma, gamma=self.gamma, k=self.k)


# -- parametrisation and losses (one example) ----------------------------------------------------


def gane_params(
    out: GANEOutput, deca: FaceParams, model: MorphableModel, *, size: int
) -> FaceParams:
    """GANE's ψ, θ, c (raw, prior units; module docstring) with the DECA-like identity, light
    and albedo of ``deca`` -> :class:`FaceParams` (one example or a batch)."""
    raw = {"expression": out.expression, "pose": out.pose, "camera": out.camera,
           "identity": jnp.zeros_like(deca.identity), "light": jnp.zeros_like(deca.light),
           "albedo": jnp.zeros_like(deca.albedo)}  # fmt: skip
    p = raw_to_params(raw, model, size=size)
    return p.replace(identity=deca.identity, light=deca.light, albedo=deca.albedo)


def posed_landmarks(
    params: FaceParams, model: MorphableModel
) -> tuple[Float[Array, "68 3"], Float[Array, " 3"]]:
    """Eqs. 5-6's ``(M, c)`` of one face: the 68 posed landmarks with the image's x, y axes and
    the camera ``(s, t_x, t_y)``, so that ``s Π M + t`` are the decoded 2D landmarks."""
    lm = model.landmarks(params.identity, params.expression, scheme=68)
    rot = rotation_from_axis_angle(params.pose)
    m = (lm @ rot.T) * jnp.asarray(_FLIP_Y, lm.dtype)[None, :]
    c = jnp.concatenate([params.scale[None], params.translation])
    return m, c


def feature_consistency(
    detector: AUDetector, renders: Float[Array, "b S S 3"], nodes: Float[Array, "b n d"]
) -> Float[Array, " b"]:
    """Eq. 7 per example: ``‖AFG(I) − AFG(I_Re)‖₂`` with the detector's nodes of the renders
    (the detector as it is: call ``detector.eval()`` first for the frozen detector)."""
    render_nodes = detector.nodes(renders)
    return jax.vmap(au_feature_loss)(nodes, render_nodes.astype(nodes.dtype))


def gane_loss(
    out: GANEOutput,
    deca: FaceParams,
    landmarks: Float[Array, "68 2"],
    probabilities: Float[Array, " n_aus"],
    *,
    model: MorphableModel,
    size: int,
    groups: Float[ArrayLike, "n_aus 68"],
    config: GANEConfig = GANEConfig(),
) -> tuple[FaceParams, dict[str, Float[Array, ""]]]:
    """Eqs. 5, 6 and 8 of one example, and its :class:`FaceParams` (eq. 7 needs the detector on
    the batch of renders: :func:`feature_consistency`).

    Args:
        out: GANE's raw output for one image.
        deca: the DECA-like parameters of the image (identity, light, albedo are used).
        landmarks: (68, 2) detected landmarks k in crop pixels.
        probabilities: (n_aus,) the detector's p_i on the input.
        model: the morphable model.
        size: S, the crop side.
        groups: (n_aus, 68) G of eq. 5 (:func:`au_group_matrix`).
        config: the :class:`GANEConfig` (eq. 8's weights).

    Returns:
        ``(params, {"landmark": L5, "relative": L6, "regulariser": L8})``.
    """
    params = gane_params(out, deca, model, size=size)
    m, c = posed_landmarks(params, model)
    k = landmarks.astype(m.dtype)
    terms = {
        "landmark": au_landmark_loss(k, m, c, probabilities.astype(m.dtype), groups=groups),
        "relative": au_relative_distance_loss(k, m, c),
        "regulariser": parameter_regularizer(
            out.expression,
            out.pose,
            out.camera,
            expression_weight=config.expression_reg,
            pose_weight=config.pose_reg,
            camera_weight=config.camera_reg,
        ),  # fmt: skip
    }
    return params, terms


# -- the trained modules --------------------------------------------------------------------------


class _GANEWithDetector(nnx.Module):
    """GANE (trained) beside the frozen detector it is judged by (eq. 7)."""

    def __init__(self, gane: GANE, detector: AUDetector):
        self.gane = gane
        self.detector = detector


class _EncoderWithDetector(nnx.Module):
    """The EMOCA-like encoder (trained) beside the frozen detector."""

    def __init__(self, encoder: GlobalEncoder, detector: AUDetector):
        self.encoder = encoder
        self.detector = detector


def _only(name: str):
    return nnx.All(nnx.Param, nnx.PathContains(name))


def _deca(batch) -> FaceParams:
    return FaceParams(**{f.name: batch[f"deca_{f.name}"] for f in dataclasses.fields(FaceParams)})


def _deca_arrays(deca: FaceParams, n: int) -> dict:
    out = {}
    for f in dataclasses.fields(FaceParams):
        v = np.asarray(getattr(deca, f.name), np.float32)
        if v.shape[:1] != (n,):
            raise ValueError(f"deca.{f.name} must have {n} rows (one per image), got {v.shape}.")
        out[f"deca_{f.name}"] = v
    return out


def _render(params: FaceParams, model, size: int, blend: SoftBlend) -> Array:
    dec = jax.vmap(lambda p: decode(p, model, size=size, blend=blend))(params)
    return dec.image


_STEPS: dict = {}  # (kind, id(model), config, size) -> (model, train step, eval step)


def _gane_steps(original: MorphableModel, config: GANEConfig, size: int, aus: tuple):
    key = ("gane", id(original), config, size, aus)
    if key not in _STEPS:
        model = _as_float32(original)
        groups = jnp.asarray(au_group_matrix(aus), jnp.float32)
        blend = config.blend

        def forward(net, batch):
            out = net.gane(batch["nodes"], batch["global"])
            loss = functools.partial(gane_loss, model=model, size=size, groups=groups,
                                     config=config)  # fmt: skip
            return jax.vmap(loss)(out, _deca(batch), batch["landmarks"], batch["probs"])

        def loss_fn(net, batch, *, key):
            del key
            net.gane.train()
            net.detector.eval()
            params, terms = forward(net, batch)
            feat = feature_consistency(net.detector, _render(params, model, size, blend),
                                       batch["nodes"])  # fmt: skip
            terms = {k: jnp.mean(v) for k, v in terms.items()}
            terms["feature"] = jnp.mean(feat)
            total = total_loss(terms["landmark"], terms["relative"], terms["feature"],
                               terms["regulariser"], landmark_weight=config.landmark_weight,
                               relative_weight=config.relative_weight,
                               feature_weight=config.feature_weight)  # fmt: skip
            return total, terms

        def predict_fn(net, batch):
            params, _ = forward(net, batch)
            return dataclasses.asdict(params)

        _STEPS.clear()
        _STEPS[key] = (original, make_train_step(loss_fn), make_eval_step(predict_fn))
    return _STEPS[key][1:]


def _emoca_steps(original: MorphableModel, config: EncoderConfig):
    key = ("emoca", id(original), config)
    if key not in _STEPS:
        model = _as_float32(original)
        size, blend = config.image_size, config.blend

        def expression(net, images):
            raw = net.encoder(images)
            return raw_to_params(raw, model, size=size).expression

        def loss_fn(net, batch, *, key):
            del key
            net.encoder.train()
            net.detector.eval()
            params = _deca(batch).replace(expression=expression(net, batch["image"]))
            feat = jnp.mean(feature_consistency(net.detector, _render(params, model, size, blend),
                                                batch["nodes"]))  # fmt: skip
            return feat, {"feature": feat}

        def predict_fn(net, batch):
            return {"expression": expression(net, batch["image"])}

        _STEPS.clear()
        _STEPS[key] = (original, make_train_step(loss_fn), make_eval_step(predict_fn))
    return _STEPS[key][1:]


def _check_rows(name: str, x, shape: tuple) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has non-finite values (drop the frames without landmarks).")
    return x


def _gane_arrays(nodes, global_features, landmarks, probabilities, deca: FaceParams) -> dict:
    v = np.asarray(nodes, np.float32)
    if v.ndim != 3 or v.shape[0] == 0:
        raise ValueError(f"nodes must have shape (n, n_aus, node_dim), got {v.shape}.")
    n, n_aus, _ = v.shape
    g = np.asarray(global_features, np.float32)
    if g.ndim != 2 or g.shape[0] != n:
        raise ValueError(f"global_features must have shape ({n}, G), got {g.shape}.")
    return {"nodes": v, "global": g,
            "landmarks": _check_rows("landmarks", landmarks, (n, 68, 2)),
            "probs": _check_rows("probabilities", probabilities, (n, n_aus)),
            **_deca_arrays(deca, n)}  # fmt: skip


def _build_gane(arrays: dict, model: MorphableModel, config: GANEConfig, rngs) -> GANE:
    gane = GANE(arrays["nodes"].shape[2], arrays["global"].shape[1], expression_dim=model.n_exp,
                pose_dim=3, camera_dim=3, gat_layers=config.gat_layers,
                gat_heads=config.gat_heads, transformer_depth=config.transformer_depth,
                transformer_heads=config.transformer_heads, mlp_ratio=config.mlp_ratio,
                dropout=config.dropout, rngs=rngs)  # fmt: skip
    for head in (gane.expression, gane.pose, gane.camera):  # start at the mean face
        head.kernel[...] = jnp.zeros_like(head.kernel[...])
    return gane


def train_gane(
    detector: TrainState,
    *,
    nodes: Float[ArrayLike, "n n_aus d"],
    global_features: Float[ArrayLike, "n g"],
    landmarks: Float[ArrayLike, "n 68 2"],
    probabilities: Float[ArrayLike, "n n_aus"],
    deca: FaceParams,
    model: MorphableModel,
    key: jax.Array,
    steps: int,
    batch_size: int,
    size: int,
    aus: tuple[int, ...],
    config: GANEConfig = GANEConfig(),
    workdir: str | os.PathLike | None = None,
    restore: int | str | None = None,
    progress: bool | str = False,
) -> TrainState:
    """Trains GANE (eqs. 1-8; module docstring) against the frozen ``detector``.

    Args:
        detector: the trained :class:`AUDetector` state (:func:`train_au_detector`); frozen.
        nodes: (n, n_aus, D) the detector's AU nodes of the training images (``predict_aus``).
        global_features: (n, G) the DECA-like encoder's X of the same images.
        landmarks: (n, 68, 2) their detected landmarks in crop pixels (finite).
        probabilities: (n, n_aus) the detector's p_i on them (eq. 5's weights).
        deca: the DECA-like :class:`FaceParams` of the images (leading axis n).
        model: the morphable model (cast to float32 inside).
        key: a typed PRNG key (initialisation, batch order, step keys).
        steps: optimiser steps.
        batch_size: images per step.
        size: S, the crop side.
        aus: the AU numbers of the detector's outputs (eq. 5's groups).
        config: the :class:`GANEConfig`.
        workdir: the run directory (resumable); None trains in memory.
        restore: with a workdir, ``"latest"`` or a step restores without training.
        progress: show a progress bar (a string is its label).

    Returns:
        The :class:`aujax.train.TrainState` of GANE and the frozen detector; :func:`predict_gane`
        reads it.
    """
    key = check_typed_key(key)
    arrays = _gane_arrays(nodes, global_features, landmarks, probabilities, deca)
    if arrays["nodes"].shape[1] != len(aus):
        raise ValueError(f"nodes has {arrays['nodes'].shape[1]} AU nodes but aus lists "
                         f"{len(aus)} AUs.")  # fmt: skip
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    size = check_positive_int(size, "size")
    det = nnx.merge(detector.graphdef, detector.params, detector.rest, copy=True)
    step = _gane_steps(model, config, size, tuple(aus))[0]
    return train_network(
        lambda rngs: _GANEWithDetector(_build_gane(arrays, model, config, rngs), det), step,
        arrays, key=key, steps=steps, batch_size=batch_size, config=config, workdir=workdir,
        restore=restore, progress=progress, trainable=_only("gane"),
    )  # fmt: skip


def predict_gane(
    state: TrainState,
    *,
    nodes: Float[ArrayLike, "n n_aus d"],
    global_features: Float[ArrayLike, "n g"],
    deca: FaceParams,
    model: MorphableModel,
    size: int,
    aus: tuple[int, ...],
    config: GANEConfig = GANEConfig(),
    batch_size: int = _EVAL_BATCH,
) -> FaceParams:
    """AUGANE's :class:`FaceParams` (NumPy, leading axis n): GANE's ψ, θ, c with the DECA-like
    identity, light and albedo, for the ``model``, ``size``, ``aus`` and ``config`` it was
    trained with."""
    v = np.asarray(nodes, np.float32)
    n = v.shape[0]
    arrays = {"nodes": v, "global": np.asarray(global_features, np.float32),
              "landmarks": np.zeros((n, 68, 2), np.float32),
              "probs": np.zeros((n, v.shape[1]), np.float32), **_deca_arrays(deca, n)}  # fmt: skip
    evaluate = _gane_steps(model, config, int(size), tuple(aus))[1]
    batch = max(1, min(int(batch_size), n))
    out = predict_in_batches(lambda b: evaluate(state, b), arrays, batch)
    return FaceParams(**{k: np.asarray(v) for k, v in out.items()})


def train_emoca(
    detector: TrainState,
    encoder: TrainState,
    images: ArrayLike,
    *,
    nodes: Float[ArrayLike, "n n_aus d"],
    deca: FaceParams,
    model: MorphableModel,
    key: jax.Array,
    steps: int,
    batch_size: int,
    config: EncoderConfig | None = None,
    lr: float | None = None,
    workdir: str | os.PathLike | None = None,
    restore: int | str | None = None,
    progress: bool | str = False,
) -> TrainState:
    """Fine-tunes a copy of the DECA-like ``encoder``'s expression with eq. 7 alone (the
    EMOCA-like baseline; module docstring) against the frozen ``detector``.

    Args:
        detector: the trained detector state (frozen).
        encoder: the trained DECA-like encoder state (:func:`train_global_encoder`): the
            starting point (copied; it is not changed).
        images: (n, S, S, 3) training crops in [0, 1].
        nodes: (n, n_aus, D) the detector's AU nodes of those crops.
        deca: the DECA-like :class:`FaceParams` of the crops (all but the expression are kept).
        model: the morphable model.
        key: a typed PRNG key (batch order, step keys).
        steps: optimiser steps.
        batch_size: images per step.
        config: the encoder's :class:`EncoderConfig` (size, renderer; ``lr`` and ``warmup``
            unless ``lr`` is given); None: the default.
        lr: the fine-tuning learning rate (None: ``config.lr``).
        workdir, restore, progress: as :func:`train_gane`.

    Returns:
        The :class:`aujax.train.TrainState`; :func:`predict_emoca` reads it.
    """
    key = check_typed_key(key)
    config = config or EncoderConfig()
    x = check_images(images, "images")
    n = x.shape[0]
    v = np.asarray(nodes, np.float32)
    if v.ndim != 3 or v.shape[0] != n:
        raise ValueError(f"nodes must have shape ({n}, n_aus, node_dim), got {v.shape}.")
    arrays = {"image": x, "nodes": v, **_deca_arrays(deca, n)}
    cfg = config if lr is None else dataclasses.replace(config, lr=float(lr))
    det = nnx.merge(detector.graphdef, detector.params, detector.rest, copy=True)
    enc = nnx.merge(encoder.graphdef, encoder.params, encoder.rest, copy=True)
    step = _emoca_steps(model, config)[0]
    return train_network(
        lambda rngs: _EncoderWithDetector(enc, det), step, arrays, key=key,
        steps=check_positive_int(steps, "steps"),
        batch_size=check_positive_int(batch_size, "batch_size"), config=cfg, workdir=workdir,
        restore=restore, progress=progress, trainable=_only("encoder"),
    )  # fmt: skip


def predict_emoca(
    state: TrainState,
    images: ArrayLike,
    deca: FaceParams,
    model: MorphableModel,
    *,
    config: EncoderConfig | None = None,
    batch_size: int = _EVAL_BATCH,
) -> FaceParams:
    """The EMOCA-like :class:`FaceParams`: ``deca`` with the fine-tuned expression."""
    x = check_images(images, "images")
    evaluate = _emoca_steps(model, config or EncoderConfig())[1]
    batch = max(1, min(int(batch_size), x.shape[0]))
    out = predict_in_batches(lambda b: evaluate(state, b), {"image": x}, batch)
    return dataclasses.replace(deca, expression=np.asarray(out["expression"]))


def render_faces(
    params: FaceParams,
    model: MorphableModel,
    *,
    size: int,
    blend: SoftBlend | None = None,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft renders (n, S, S, 3) in [0, 1] and their silhouettes (n, S, S) of a batch of
    :class:`FaceParams` (float32, in batches)."""
    blend = blend or SoftBlend()
    m = _as_float32(model)
    n = int(np.shape(params.expression)[0])
    images, alphas = [], []
    for i in range(0, n, batch_size):
        sl = slice(i, i + batch_size)
        p = jax.tree.map(lambda a, sl=sl: jnp.asarray(a[sl], jnp.float32), params)
        img, alpha = _render_batch(m, p, size=int(size), blend=blend)
        images.append(np.clip(np.asarray(img), 0.0, 1.0))
        alphas.append(np.asarray(alpha))
    return np.concatenate(images), np.concatenate(alphas)


@functools.partial(jax.jit, static_argnames=("size", "blend"))
def _render_batch(model, params, *, size: int, blend: SoftBlend):
    dec = jax.vmap(lambda p: decode(p, model, size=size, blend=blend))(params)
    return dec.image, dec.alpha
