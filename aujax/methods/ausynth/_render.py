"""Renders of 3DMM parameters in the DISFA-like crops' framing (seed 002, Table 2 and fig. 5).

The paper drives the generated expression parameters through the 3DMM with the **source**
subject's identity and albedo (eqs. 1-2) and renders them (section 3.1). Here the renders are made
exactly like the DISFA-like frames (:func:`aujax.synth.sequence_crops`), so that the image judge
trained on real crops (:func:`fit_image_judge`) and an image CNN see comparable inputs:

* the orthographic camera :func:`aujax.geometry.frame_vertices` fitted to the subject's
  **neutral** face (the model at ``(x_id, 0)``) with a 6 % margin, as the generator frames the
  subject's rest mesh; the frames' head rotations (model frame) on top;
* one key light ``light_elevation_deg`` above the camera axis, ambient ``ambient`` and diffuse
  ``1 - ambient`` (the DISFA-like capture draws them per subject around 10 deg and 0.5);
* :func:`aujax.render.render_splat`, the generator's batched renderer (the z-buffered Lambert
  renderer :func:`aujax.render.render` frame by frame, in chunks), RGB uint8 crops.

The vertices of all frames are one jitted ``vmap`` of :meth:`MorphableModel.vertices`
(:func:`expression_meshes`).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ...face import MorphableModel
from ...geometry import MODEL_TO_OPENCV, OrthoCamera, frame_vertices
from ...render import render_splat


__all__ = ["expression_meshes", "head_rotations", "render_parameters"]

#: The crops' margin (:func:`aujax.synth.sequence_crops`).
CROP_MARGIN = 0.06


@jax.jit
def _meshes(model: MorphableModel, x_id: Array, x_exp: Array) -> Array:
    return jax.vmap(model.vertices, in_axes=(None, 0))(x_id, x_exp)


def expression_meshes(
    model: MorphableModel, x_id: Float[ArrayLike, " n_id"], x_exp: Float[ArrayLike, "T n_exp"]
) -> Float[Array, "T n 3"]:
    """The meshes of eq. 1 for one identity and T expressions (jitted ``vmap``).

    Args:
        model: the morphable model.
        x_id: (n_id,) the (source) subject's identity.
        x_exp: (T, n_exp) expression coefficients (not normalised).

    Returns:
        (T, n_vertices, 3) vertices, cm, model frame.
    """
    dtype = model.mean_shape.dtype
    x_id, x_exp = jnp.asarray(x_id, dtype), jnp.asarray(x_exp, dtype)
    if x_id.shape != (model.n_id,):
        raise ValueError(f"x_id must have shape ({model.n_id},), got {x_id.shape}.")
    if x_exp.ndim != 2 or x_exp.shape[1] != model.n_exp:
        raise ValueError(f"x_exp must have shape (T, {model.n_exp}), got {x_exp.shape}.")
    return _meshes(model, x_id, x_exp)


def head_rotations(camera_rotations: Float[ArrayLike, "T 3 3"]) -> np.ndarray:
    """(T, 3, 3) model-frame head rotations from extracted camera rotations.

    The extraction's scaled-orthographic camera maps the model frame to the y-down image, the
    pinhole's ``MODEL_TO_OPENCV @ R_head`` (:func:`aujax.synth.project_landmarks`); the renderer
    takes ``R_head``.
    """
    r = np.asarray(camera_rotations, np.float64)
    if r.ndim != 3 or r.shape[1:] != (3, 3):
        raise ValueError(f"camera_rotations must have shape (T, 3, 3), got {r.shape}.")
    return np.einsum("ij,tjk->tik", MODEL_TO_OPENCV, r)


def render_parameters(
    model: MorphableModel,
    *,
    x_id: Float[ArrayLike, " n_id"],
    x_exp: Float[ArrayLike, "T n_exp"],
    albedo: Float[ArrayLike, "n 3"],
    image_size: int,
    camera: OrthoCamera | None = None,
    rotations: Float[ArrayLike, "T 3 3"] | None = None,
    light_elevation_deg: float = 10.0,
    ambient: float = 0.5,
    chunk: int = 64,
) -> np.ndarray:
    """Face crops of expression parameters with a source subject's identity and albedo.

    Args:
        model: the morphable model (its triangles are rendered).
        x_id: (n_id,) the source subject's identity.
        x_exp: (T, n_exp) expression coefficients (real or generated, not normalised).
        albedo: (n_vertices, 3) RGB albedo in [0, 1] (the source subject's; clipped).
        image_size: crop side S (the DISFA-like frames': 64 small, 128 otherwise).
        camera: the orthographic camera; None frames the neutral ``(x_id, 0)`` as the DISFA-like
            crops are framed (module docstring).
        rotations: (T, 3, 3) head rotations in the model frame (:func:`head_rotations`); None:
            frontal.
        light_elevation_deg: the key light's elevation above the camera axis, degrees.
        ambient: ambient fraction in [0, 1) (diffuse: the rest).
        chunk: frames per jitted render call.

    Returns:
        (T, S, S, 3) uint8 crops.

    Raises:
        ValueError: shapes that do not match the model, a model without triangles.
    """
    if np.asarray(model.triangles).shape[0] == 0:
        raise ValueError("model: no triangles to render.")
    verts = expression_meshes(model, x_id, x_exp)
    alb = np.clip(np.asarray(albedo, np.float32), 0.0, 1.0)
    if alb.shape != (model.n_vertices, 3):
        raise ValueError(f"albedo must have shape ({model.n_vertices}, 3), got {alb.shape}.")
    if camera is None:
        neutral = model.vertices(jnp.asarray(x_id, model.mean_shape.dtype),
                                 jnp.zeros((model.n_exp,), model.mean_shape.dtype))  # fmt: skip
        camera = frame_vertices(neutral.astype(jnp.float32), height=int(image_size),
                                width=int(image_size), margin=CROP_MARGIN)  # fmt: skip
    if rotations is not None:
        rotations = np.asarray(rotations, np.float32)
        if rotations.shape != (verts.shape[0], 3, 3):
            raise ValueError(f"rotations must have shape ({verts.shape[0]}, 3, 3), got "
                             f"{rotations.shape}.")  # fmt: skip
    el = np.radians(float(light_elevation_deg))
    light = np.array([0.0, np.sin(el), np.cos(el)], np.float32)
    if not 0.0 <= float(ambient) < 1.0:
        raise ValueError(f"ambient must be in [0, 1), got {ambient!r}.")
    return render_splat(
        np.asarray(verts, np.float32), np.asarray(model.triangles), alb, camera=camera,
        rotations=rotations, light_dir=light, ambient=float(ambient),
        diffuse=1.0 - float(ambient), color=True, chunk=int(chunk),
    )  # fmt: skip
