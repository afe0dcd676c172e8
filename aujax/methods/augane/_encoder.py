r"""Seed 003's global encoder: a DECA-like regressor of the face model's parameters, trained
self-supervised through the soft rasterizer (seed 003 §III.A, fig. 1(b); DECA, Feng et al. 2021).

The encoder is a CNN whose pooled features are the global representation :math:`X` of eq. 2
(``X_DECA``, 2048 in the paper; here the narrow ResNet's ``num_features``), followed by linear
heads (DECA's FC layer, :math:`\Theta_{DECA} = FC(X)`), one per parameter group of
:class:`FaceParams`:

* identity :math:`x_{id}` and expression :math:`x_{exp}` of :class:`aujax.face.MorphableModel`
  (eq. 1 of seed 002; FLAME's shape and expression in the paper), regressed in units of the
  model's prior standard deviations (``x = std * head``);
* pose: an axis-angle head rotation (:func:`aujax.geometry.rotation_from_axis_angle`);
* camera: the scaled orthographic camera of eq. 5 (:class:`aujax.geometry.OrthoCamera`: scale
  ``s`` in px/cm and 2D translation ``t`` in px), ``s = s0 exp(head)``, ``t = t0 + (S/4) head``,
  ``(s0, t0)`` the frontal camera that frames the mean face as the synthetic crops are framed
  (:func:`reference_camera`);
* light: 9 grayscale spherical-harmonic coefficients (:func:`aujax.render.sh_shading`), ``L =
  L0 + head``, ``L0`` a uniform light of shading 0.8;
* albedo: the model's albedo coefficients (eq. 2 of seed 002; its first axis is the skin tone),
  in units of their standard deviations.

The heads start at zero, so an untrained encoder predicts the mean face under the reference
camera. :func:`decode` maps one example's parameters to vertices, the 2D landmarks and a soft
render. The training loss (:func:`encoder_loss`, ``docs/augane_method.md``, "DECA-like
encoder"):

.. math::
   L = \lambda_{lmk} \frac{1}{K S} \sum_j \lVert k_j - s\Pi(R M_j) - t \rVert_1
     + \lambda_{pho} \frac{\sum_p \alpha_p \lVert I_p - I^{r}_p \rVert_1}{C \sum_p \alpha_p}
     + \lambda_{id} \lVert x_{id} / \sigma_{id} \rVert^2 + \lambda_{exp} \lVert x_{exp} /
       \sigma_{exp} \rVert^2 + \lambda_{alb} \lVert x_{alb} / \sigma_{alb} \rVert^2
     + \lambda_{pose} \lVert \omega \rVert^2 + \lambda_{light} \lVert L - L_0 \rVert^2

with the K = 66 DISFA landmarks (iBUG-68 without 60 and 64, the model's landmark embedding
``scheme=66``; missing ones, NaN, are skipped) in pixels divided by the image side S, the
photometric L1 over the C channels masked by the soft render's silhouette :math:`\alpha`.
"""

import dataclasses
import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct
from jaxtyping import Array, ArrayLike, Float

from ...face import LANDMARK_SCHEMES, MorphableModel
from ...geometry import OrthoCamera, frame_vertices, project, rotation_from_axis_angle
from ...nn import ResNet
from ...render import SoftBlend, soft_render
from ...train import (
    TrainState,
    make_eval_step,
    make_train_step,
    predict_in_batches,
)
from ._common import check_images, check_positive_int, check_typed_key, train_network


__all__ = [
    "CROP_MARGIN",
    "crop_landmarks",
    "Decoded",
    "EncoderConfig",
    "FaceParams",
    "GlobalEncoder",
    "decode",
    "default_light",
    "encode",
    "encoder_loss",
    "landmark_loss",
    "photometric_loss",
    "predict_params",
    "raw_to_params",
    "reference_camera",
    "train_global_encoder",
]

#: The margin of the synthetic crops' framing (:func:`aujax.synth.sequence_crops`).
CROP_MARGIN = 0.06

_GROUPS = ("identity", "expression", "pose", "camera", "light", "albedo")
_UNIFORM_SHADING = 0.8  # L0: a uniform environment of this shading
_EVAL_BATCH = 64


@struct.dataclass
class FaceParams:
    """The parameters of one face (add a leading axis for batches).

    Attributes:
        identity: (n_id,) ``x_id``.
        expression: (n_exp,) ``x_exp``.
        pose: (3,) axis-angle head rotation (model frame -> camera frame).
        scale: () camera scale, px per cm.
        translation: (2,) camera translation, px.
        light: (9,) spherical-harmonic light.
        albedo: (n_alb,) ``x_alb``.
    """

    identity: Float[Array, " n_id"]
    expression: Float[Array, " n_exp"]
    pose: Float[Array, " 3"]
    scale: Float[Array, ""]
    translation: Float[Array, " 2"]
    light: Float[Array, " 9"]
    albedo: Float[Array, " n_alb"]


@struct.dataclass
class Decoded:
    """:func:`decode`'s output for one face.

    Attributes:
        vertices: (n, 3) model-frame vertices (eq. 1 of seed 002).
        landmarks: (k, 2) projected landmarks in pixels (u right, v down).
        image: (S, S, 3) soft render (None when not rendered).
        alpha: (S, S) its silhouette (None when not rendered).
    """

    vertices: Float[Array, "n 3"]
    landmarks: Float[Array, "k 2"]
    image: Float[Array, "S S 3"] | None = None
    alpha: Float[Array, "S S"] | None = None


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """The encoder, its losses and its optimiser (module docstring).

    Attributes:
        depth, width, stem: the :class:`aujax.nn.ResNet` (``"imagenet"`` stem: a 2x2 map at
            64 px, the cheapest).
        image_size: S, the crops' side (the DISFA-like ``small`` preset: 64).
        landmarks: 66 (DISFA) or 68 points.
        landmark_weight, photometric_weight: ``λ_lmk``, ``λ_pho`` (DECA: 1, 2).
        identity_reg, expression_reg, albedo_reg, pose_reg, light_reg: the regulariser weights
            (DECA: 1e-4 on shape, expression and albedo; here in prior units).
        sigma, gamma: the soft rasterizer's blur (px²) and depth temperature
            (:class:`aujax.render.SoftBlend`).
        k: candidates per pixel of the soft rasterizer.
        lr: peak learning rate of AdamW (warm-up, cosine decay).
        warmup: warm-up steps.
        checkpoint_every, log_every: checkpoint and log intervals in steps.
    """

    depth: int = 18
    width: int = 16
    stem: str = "imagenet"
    image_size: int = 64
    landmarks: int = 66
    landmark_weight: float = 1.0
    photometric_weight: float = 2.0
    identity_reg: float = 1e-4
    expression_reg: float = 1e-4
    albedo_reg: float = 1e-4
    pose_reg: float = 1e-4
    light_reg: float = 1e-4
    sigma: float = 0.1
    gamma: float = 1e-4
    k: int = 4
    lr: float = 1e-3
    warmup: int = 20
    checkpoint_every: int = 100
    log_every: int = 50

    def __post_init__(self):
        if self.landmarks not in (66, 68):
            raise ValueError(f"landmarks must be 66 or 68, got {self.landmarks!r}.")
        for name in ("width", "image_size", "k", "checkpoint_every", "log_every"):
            check_positive_int(getattr(self, name), name)
        for name in ("landmark_weight", "photometric_weight", "identity_reg", "expression_reg",
                     "albedo_reg", "pose_reg", "light_reg"):  # fmt: skip
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}.")
        for name in ("sigma", "gamma", "lr"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive, got {v!r}.")

    @property
    def blend(self) -> SoftBlend:
        return SoftBlend(sigma=self.sigma, gamma=self.gamma, k=self.k)


def _group_sizes(model: MorphableModel) -> dict[str, int]:
    return {"identity": model.n_id, "expression": model.n_exp, "pose": 3, "camera": 3,
            "light": 9, "albedo": model.n_alb}  # fmt: skip


class GlobalEncoder(nnx.Module):
    """ResNet -> global feature X (eq. 2) -> one zero-initialised linear head per group."""

    def __init__(
        self,
        model: MorphableModel,
        *,
        config: EncoderConfig = EncoderConfig(),
        in_channels: int = 3,
        rngs: nnx.Rngs,
    ):
        """Builds the encoder for ``model``'s parameter sizes.

        Args:
            model: the :class:`aujax.face.MorphableModel` decoded (its n_id, n_exp, n_alb).
            config: the :class:`EncoderConfig`.
            in_channels: image channels.
            rngs: parameter initialisation streams.
        """
        self.backbone = ResNet(depth=config.depth, width=config.width, stem=config.stem,
                               in_channels=in_channels, rngs=rngs)  # fmt: skip
        f = self.backbone.num_features
        zeros = nnx.initializers.zeros_init()
        self.heads = nnx.Dict({
            name: nnx.Linear(f, size, kernel_init=zeros, rngs=rngs)
            for name, size in _group_sizes(model).items()
        })  # fmt: skip

    def features(self, images: Float[Array, "b h w c"]) -> Float[Array, "b f"]:
        """The global representation X (eq. 2's ``X_DECA``) of images in [0, 1]."""
        return self.backbone.features(images - 0.5)

    def __call__(self, images: Float[Array, "b h w c"]) -> dict[str, Float[Array, "b _"]]:
        """The heads' raw outputs ``{group: (b, size)}``; :func:`raw_to_params` maps them."""
        x = self.features(images)
        return {name: self.heads[name](x) for name in _GROUPS}


def reference_camera(model: MorphableModel, *, size: int) -> OrthoCamera:
    """The frontal camera framing the mean face as the synthetic crops frame a subject's neutral
    (:func:`aujax.geometry.frame_vertices`, margin :data:`CROP_MARGIN`): ``(s0, t0)``."""
    return frame_vertices(model.mean_shape, height=size, width=size, margin=CROP_MARGIN)


def crop_landmarks(
    landmarks_3d: Float[ArrayLike, "t k 3"],
    rotations: Float[ArrayLike, "t 3 3"],
    rest: Float[ArrayLike, "n 3"],
    *,
    size: int,
) -> Float[Array, "t k 2"]:
    """Landmarks in the pixels of the synthetic crops, from the synthetic ground truth.

    The DISFA-like layout stores the 2D landmarks in the 1024 x 768 video frame; the crops
    (:func:`aujax.synth.sequence_crops`) are rendered by the frontal camera that frames the
    subject's rest mesh (``frame_vertices``, margin :data:`CROP_MARGIN`) with each frame's head
    rotation. This applies the same camera to the ground truth's 3D landmarks.

    Args:
        landmarks_3d: (t, k, 3) model-frame landmarks (``synthetic/SNxxx.npz``'s
            ``landmarks_3d``; e.g. ``[:, IDX66]`` for DISFA's 66).
        rotations: (t, 3, 3) head rotations (its ``head_rotation``).
        rest: (n, 3) the subject's rest mesh (the template plus its identity displacement).
        size: the crops' side in pixels.

    Returns:
        (t, k, 2) pixel coordinates (u right, v down).
    """
    lm = jnp.asarray(landmarks_3d)
    rot = jnp.asarray(rotations, lm.dtype)
    if lm.ndim != 3 or lm.shape[2] != 3:
        raise ValueError(f"landmarks_3d must have shape (t, k, 3), got {lm.shape}.")
    if rot.shape != (lm.shape[0], 3, 3):
        raise ValueError(f"rotations must have shape ({lm.shape[0]}, 3, 3), got {rot.shape}.")
    cam = frame_vertices(jnp.asarray(rest, lm.dtype), height=size, width=size, margin=CROP_MARGIN)
    return jax.vmap(lambda r, x: project(cam.replace(rotation=r), x)[:, :2])(rot, lm)


def default_light(dtype=jnp.float32) -> Float[Array, " 9"]:
    """``L0``: a uniform environment of shading 0.8 (``L_00 = 0.8 sqrt(4 pi)``)."""
    return jnp.zeros(9, dtype).at[0].set(_UNIFORM_SHADING * math.sqrt(4.0 * math.pi))


def raw_to_params(raw: dict, model: MorphableModel, *, size: int) -> FaceParams:
    """The heads' outputs (one example or a batch) as :class:`FaceParams` (module docstring)."""
    cam = reference_camera(model, size=size)
    dtype = raw["camera"].dtype

    def lead(v, x):  # v (d,) broadcast against x (..., d)
        return jnp.asarray(v, dtype).reshape((1,) * (x.ndim - 1) + v.shape)

    camera = raw["camera"]
    return FaceParams(
        identity=raw["identity"] * lead(model.id_std, raw["identity"]),
        expression=raw["expression"] * lead(model.exp_std, raw["expression"]),
        pose=raw["pose"],
        scale=jnp.asarray(cam.scale, dtype) * jnp.exp(camera[..., 0]),
        translation=lead(cam.translation, camera[..., 1:]) + (size / 4.0) * camera[..., 1:],
        light=lead(default_light(dtype), raw["light"]) + raw["light"],
        albedo=raw["albedo"] * lead(model.albedo_std, raw["albedo"]),
    )


def _camera(params: FaceParams, size: int) -> OrthoCamera:
    return OrthoCamera(rotation_from_axis_angle(params.pose), params.scale, params.translation,
                       height=size, width=size)  # fmt: skip


def decode(
    params: FaceParams,
    model: MorphableModel,
    *,
    size: int,
    landmarks: int = 66,
    blend: SoftBlend | None = None,
    render: bool = True,
) -> Decoded:
    """One face's parameters -> vertices, 2D landmarks and the soft render (``jax.vmap`` for a
    batch).

    Args:
        params: the :class:`FaceParams` of one face.
        model: the morphable model.
        size: S, the image side in pixels.
        landmarks: 66 (DISFA) or 68.
        blend: the soft rasterizer's parameters (default ``SoftBlend()``).
        render: False skips the soft render (``image`` and ``alpha`` None).

    Returns:
        The :class:`Decoded` face.
    """
    if landmarks not in LANDMARK_SCHEMES:
        raise ValueError(f"landmarks must be one of {sorted(LANDMARK_SCHEMES)}, got {landmarks!r}.")
    vertices = model.vertices(params.identity, params.expression)
    camera = _camera(params, size)
    lm2 = project(camera, model.landmarks(params.identity, params.expression,
                                          scheme=landmarks))[:, :2]  # fmt: skip
    if not render:
        return Decoded(vertices=vertices, landmarks=lm2)
    albedo = jnp.clip(model.albedo(params.albedo), 0.0, 1.0)
    out = soft_render(vertices, model.triangles, albedo, camera=camera, blend=blend,
                      sh_coefficients=params.light)  # fmt: skip
    return Decoded(vertices=vertices, landmarks=lm2, image=out.image, alpha=out.alpha)


# -- losses (one example) ------------------------------------------------------------------------


def landmark_loss(
    predicted: Float[Array, "k 2"], target: Float[Array, "k 2"], *, size: int
) -> Float[Array, ""]:
    """Mean L1 landmark reprojection error in units of the image side (DECA's landmark loss;
    seed 003 eq. 5 without the AU weights); NaN target points are skipped (0 when all are)."""
    valid = jnp.all(jnp.isfinite(target), axis=-1)
    diff = jnp.where(valid[:, None], predicted - jnp.where(valid[:, None], target, 0.0), 0.0)
    per_point = jnp.sum(jnp.abs(diff), axis=-1) / size
    return jnp.sum(per_point) / jnp.maximum(jnp.sum(valid.astype(per_point.dtype)), 1.0)


def photometric_loss(
    rendered: Float[Array, "S S C"], image: Float[Array, "S S C"], alpha: Float[Array, "S S"]
) -> Float[Array, ""]:
    """L1 between the render and the image, weighted by the render's silhouette ``alpha``."""
    err = jnp.sum(jnp.abs(rendered - image.astype(rendered.dtype)), axis=-1) / image.shape[-1]
    return jnp.sum(alpha * err) / jnp.maximum(jnp.sum(alpha), 1.0)


def encoder_loss(
    params: FaceParams,
    model: MorphableModel,
    image: Float[Array, "S S C"],
    target_landmarks: Float[Array, "k 2"],
    *,
    config: EncoderConfig = EncoderConfig(),
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """The module docstring's loss for one image: ``(total, {term: value})``."""
    size = config.image_size
    photo = config.photometric_weight > 0
    out = decode(params, model, size=size, landmarks=config.landmarks, blend=config.blend,
                 render=photo)  # fmt: skip
    terms = {"landmark": landmark_loss(out.landmarks, target_landmarks, size=size)}
    dtype = terms["landmark"].dtype
    terms["photometric"] = (photometric_loss(out.image, image, out.alpha) if photo
                            else jnp.zeros((), dtype))  # fmt: skip

    def sq(x, std=None):
        x = x if std is None else x / jnp.asarray(std, x.dtype)
        return jnp.sum(x * x)

    terms["regulariser"] = (
        config.identity_reg * sq(params.identity, model.id_std)
        + config.expression_reg * sq(params.expression, model.exp_std)
        + config.albedo_reg * sq(params.albedo, model.albedo_std)
        + config.pose_reg * sq(params.pose)
        + config.light_reg * sq(params.light - default_light(params.light.dtype))
    ).astype(dtype)
    total = (config.landmark_weight * terms["landmark"]
             + config.photometric_weight * terms["photometric"] + terms["regulariser"])  # fmt: skip
    return total, terms


# -- training ------------------------------------------------------------------------------------


def _as_float32(model: MorphableModel) -> MorphableModel:
    return jax.tree.map(
        lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a, model
    )


_STEPS: dict = {}  # (id(model), config) -> (model, train step, eval step): one compile per run


def _steps(original: MorphableModel, config: EncoderConfig):
    """The jitted train and eval steps of one model and config (the model, cast to float32, is
    a constant of the programs)."""
    key = (id(original), config)
    if key not in _STEPS:
        model = _as_float32(original)

        def loss_fn(net, batch, *, key):
            del key
            net.train()
            params = raw_to_params(net(batch["image"]), model, size=config.image_size)
            loss = functools.partial(encoder_loss, model=model, config=config)
            total, terms = jax.vmap(loss)(params, image=batch["image"],
                                          target_landmarks=batch["landmarks"])  # fmt: skip
            return jnp.mean(total), {k: jnp.mean(v) for k, v in terms.items()}

        def predict_fn(net, batch):
            x = net.features(batch["image"])
            raw = {name: net.heads[name](x) for name in _GROUPS}
            params = raw_to_params(raw, model, size=config.image_size)
            return dict(dataclasses.asdict(params), features=x)

        _STEPS.clear()  # keep one model's programs (and the model) alive at a time
        _STEPS[key] = (original, make_train_step(loss_fn), make_eval_step(predict_fn))
    return _STEPS[key][1:]


def _check_landmarks(lm, n: int, k: int) -> np.ndarray:
    lm = np.asarray(lm, np.float32)
    if lm.shape != (n, k, 2):
        raise ValueError(f"landmarks must have shape ({n}, {k}, 2) (one set of {k} pixel points "
                         f"per image), got {lm.shape}.")  # fmt: skip
    if np.any(np.isinf(lm)):
        raise ValueError("landmarks contains inf values (mark missing points with NaN).")
    return lm


def train_global_encoder(
    images: ArrayLike,
    landmarks: ArrayLike,
    model: MorphableModel,
    *,
    key: jax.Array,
    steps: int,
    batch_size: int,
    config: EncoderConfig = EncoderConfig(),
    workdir: str | os.PathLike | None = None,
    restore: int | str | None = None,
    progress: bool | str = False,
) -> TrainState:
    """Trains the DECA-like encoder self-supervised (module docstring's loss).

    Args:
        images: (n, S, S, 3) crops in [0, 1], S = ``config.image_size``.
        landmarks: (n, k, 2) their 2D landmarks in crop pixels (k = ``config.landmarks``; NaN
            for missing points).
        model: the morphable model decoded (cast to float32 for training).
        key: a typed PRNG key (initial parameters, batch order, step keys).
        steps: optimiser steps.
        batch_size: images per step (<= n).
        config: the :class:`EncoderConfig`.
        workdir: the run directory: resumes from its newest checkpoint; None trains in memory.
        restore: with a workdir, ``"latest"`` or a step number restores without training.
        progress: show a progress bar (a string is its label).

    Returns:
        The :class:`aujax.train.TrainState`; :func:`predict_params` reads it.
    """
    key = check_typed_key(key)
    if not isinstance(model, MorphableModel):
        raise ValueError(f"model must be a MorphableModel, got {type(model).__name__}.")
    if model.triangles.shape[0] == 0:
        raise ValueError("model has no triangles: the photometric loss needs a mesh to render.")
    x = check_images(images, "images")
    s = config.image_size
    if x.shape[1:] != (s, s, 3):
        raise ValueError(f"images must have shape (n, {s}, {s}, 3) (config.image_size), got "
                         f"{x.shape}.")  # fmt: skip
    lm = _check_landmarks(landmarks, x.shape[0], config.landmarks)
    steps, batch_size = (
        check_positive_int(steps, "steps"),
        check_positive_int(batch_size, "batch_size"),
    )
    return train_network(
        lambda rngs: GlobalEncoder(model, config=config, rngs=rngs), _steps(model, config)[0],
        {"image": x, "landmarks": lm}, key=key, steps=steps, batch_size=batch_size,
        config=config, workdir=workdir, restore=restore, progress=progress,
    )  # fmt: skip


def predict_params(
    state: TrainState,
    images: ArrayLike,
    model: MorphableModel,
    *,
    config: EncoderConfig = EncoderConfig(),
    batch_size: int = _EVAL_BATCH,
) -> FaceParams:
    """The :class:`FaceParams` (leading axis n, float32 NumPy) of ``images`` (eval mode), for
    the ``model`` and ``config`` the encoder was trained with."""
    return encode(state, images, model, config=config, batch_size=batch_size)[0]


def encode(
    state: TrainState,
    images: ArrayLike,
    model: MorphableModel,
    *,
    config: EncoderConfig = EncoderConfig(),
    batch_size: int = _EVAL_BATCH,
) -> tuple[FaceParams, np.ndarray]:
    """:func:`predict_params` and the global features X (n, G) (eq. 2's ``X_DECA``) of
    ``images``, in one pass."""
    x = check_images(images, "images")
    _, evaluate = _steps(model, config)
    batch = max(1, min(int(batch_size), x.shape[0]))
    out = predict_in_batches(lambda b: evaluate(state, b), {"image": x}, batch)
    features = np.asarray(out.pop("features"))
    return FaceParams(**{k: np.asarray(v) for k, v in out.items()}), features
