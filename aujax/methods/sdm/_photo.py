r"""Seed 004 on a real photograph: landmark fit (eqs. 6-7) and, optionally, a trained cascade.

The experiment trains its cascades on 128 x 128 grey renders in which the face's landmarks have an
RMS radius of about 25 pixels (:data:`TRAINING_RADIUS`). The features (eqs. 8-10) measure their
patches in units of that radius, but they resample without anti-aliasing (``FeatureConfig``'s
docstring), so a photograph is first brought to the training framing: a square crop centred on
the detected landmarks' centroid, of side ``size * r / TRAINING_RADIUS`` photo pixels (``r`` the
landmarks' RMS radius in the photo), resampled with an anti-aliasing filter to ``size`` pixels
(:func:`photo_crop`). The landmark fit (eq. 7, with the run's lambdas) and the cascade run on
the crop exactly as in the experiment; the cameras are mapped back to photo pixels.

Landmarks are ``(x, y)`` pixels in the pinhole convention of the experiment (pixel ``(row, col)``
centred at ``(col, row)``, as ``.lm2`` / ``.pts`` files); the face-mesh front end of
:mod:`aujax.detect` gives its points with pixel centres at ``(col + 0.5, row + 0.5)``: subtract
0.5.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, Float

from ...geometry import SimilarityTransform
from ._cascade import Cascade, apply_cascade_batch
from ._data import SdmModel, to_gray
from ._features import reference_length
from ._fitting import fit_landmarks, project_model
from ._pipeline import make_method


__all__ = [
    "TRAINING_RADIUS",
    "PhotoCrop",
    "PhotoFit",
    "fit_photo",
    "photo_crop",
    "reprojection_error",
]

#: RMS radius (pixels) of the detector landmarks in the experiment's 128-pixel Bosphorus-like
#: renders: the median over the ``small`` preset's samples is 24.5-26.6 per sample class
#: (25.0 for the frontal neutral ones).
TRAINING_RADIUS = 25.0

#: Outer eye corners of the iBUG-68 scheme (the inter-ocular distance of the error).
OUTER_EYE_CORNERS = (36, 45)


@struct.dataclass
class PhotoCrop:
    """A photograph brought to the experiment's framing (:func:`photo_crop`).

    Attributes:
        image: (size, size) float32 grey crop in [0, 1].
        landmarks: (L, 2) the landmarks in crop pixels (pinhole convention).
        scale: () photo pixels per crop pixel ``k``.
        offset: (2,) photo position of crop pixel (0, 0): ``photo = k * crop + offset``.
    """

    image: Float[Array, "S S"]
    landmarks: Float[Array, "L 2"]
    scale: Float[Array, ""]
    offset: Float[Array, "2"]


@struct.dataclass
class PhotoFit:
    """One reconstruction of a photograph, in photo pixels.

    Attributes:
        w_id: (n_id,) identity weights ``alpha``.
        w_exp: (n_exp,) expression weights ``beta``.
        camera: scaled-orthographic camera ``(s, R, t)`` to photo pixels (pinhole convention,
            y down; ``t_z = 0``): ``P_i = s [R v_i]_xy + t_xy`` (eq. 4).
        projected: (L, 2) the model's landmarks ``P_i(g, c)`` in the photo.
        error: (L,) the distance of each projected landmark from the detected one, pixels.
    """

    w_id: Float[Array, " n_id"]
    w_exp: Float[Array, " n_exp"]
    camera: SimilarityTransform
    projected: Float[Array, "L 2"]
    error: Float[Array, " L"]


def photo_crop(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    size: int = 128,
    radius: float = TRAINING_RADIUS,
) -> PhotoCrop:
    """The square crop of a photograph at the experiment's framing (module docstring).

    Centred on the landmarks' centroid, side ``size * r / radius`` photo pixels with ``r`` the
    landmarks' RMS radius (:func:`aujax.methods.sdm.reference_length`), resampled to
    ``size`` x ``size`` with PIL's antialiasing bilinear filter; outside the photo is black (as
    the renders' background). Host-side preprocessing (NumPy / PIL).

    Args:
        image: (H, W) or (H, W, 3) photograph, uint8 or float in [0, 1].
        landmarks: (L, 2) landmarks in photo pixels (pinhole convention), finite.
        size: the crop's side in pixels (the experiment's ``data.image_size``).
        radius: the landmarks' RMS radius in the crop (:data:`TRAINING_RADIUS`).

    Returns:
        :class:`PhotoCrop`.

    Raises:
        ValueError: malformed image or landmarks, or a non-positive size or radius.
    """
    from PIL import Image

    gray = to_gray(np.asarray(image))
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 2 or lm.shape[1] != 2 or lm.shape[0] < 4:
        raise ValueError(f"landmarks must have shape (L, 2) with L >= 4, got {lm.shape}.")
    if not np.all(np.isfinite(lm)):
        raise ValueError("landmarks must be finite.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}.")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}.")
    r = float(reference_length(lm))
    if not r > 0:
        raise ValueError("landmarks must not all coincide.")
    k = r / float(radius)  # photo pixels per crop pixel
    centre = lm.mean(0)  # pinhole: crop pixel c <-> photo pixel k * c + offset
    offset = centre - k * (size - 1) / 2.0
    # PIL's box is in edge coordinates: photo pinhole x sits at edge x + 0.5
    x0, y0 = offset - 0.5 * k + 0.5
    h, w = gray.shape
    pad = int(np.ceil(k * size)) + 2
    padded = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
    padded[pad : pad + h, pad : pad + w] = gray
    box = (x0 + pad, y0 + pad, x0 + pad + k * size, y0 + pad + k * size)
    crop = Image.fromarray(padded, mode="F").resize(
        (size, size), resample=Image.Resampling.BILINEAR, box=box, reducing_gap=None
    )
    crop = np.clip(np.asarray(crop, np.float32), 0.0, 1.0)
    return PhotoCrop(
        image=jnp.asarray(crop),
        landmarks=jnp.asarray((lm - offset[None, :]) / k, jnp.float32),
        scale=jnp.asarray(k, jnp.float32),
        offset=jnp.asarray(offset, jnp.float32),
    )


def reprojection_error(
    projected: Float[Array, "L 2"], detected: Float[Array, "L 2"]
) -> tuple[float, float]:
    """Mean landmark distance, in pixels and in % of the outer inter-ocular distance.

    Args:
        projected: (68, 2) projected model landmarks.
        detected: (68, 2) detected landmarks (iBUG-68; the IOD is ``|l_45 - l_36|``).

    Returns:
        ``(pixels, percent of IOD)``.
    """
    p, d = np.asarray(projected, np.float64), np.asarray(detected, np.float64)
    if p.shape != d.shape or p.shape != (68, 2):
        raise ValueError(f"projected and detected must be (68, 2), got {p.shape} and {d.shape}.")
    err = float(np.mean(np.linalg.norm(p - d, axis=1)))
    iod = float(np.linalg.norm(d[OUTER_EYE_CORNERS[1]] - d[OUTER_EYE_CORNERS[0]]))
    return err, 100.0 * err / iod


def _to_photo(crop: PhotoCrop, camera: SimilarityTransform) -> SimilarityTransform:
    """The crop camera composed with ``photo = k * crop + offset``."""
    k, o = crop.scale.astype(camera.scale.dtype), crop.offset.astype(camera.scale.dtype)
    return SimilarityTransform(
        scale=k * camera.scale,
        rotation=camera.rotation,
        translation=jnp.concatenate([k * camera.translation[:2] + o, camera.translation[2:]]),
    )


def _photo_fit(data: SdmModel, crop, w_id, w_exp, camera_crop, detected) -> PhotoFit:
    cam = _to_photo(crop, camera_crop)
    p = project_model(data.model, w_id, w_exp, cam, jnp.asarray(data.landmark_vertices))
    err = jnp.linalg.norm(p - jnp.asarray(detected, p.dtype), axis=1)
    return PhotoFit(w_id=w_id, w_exp=w_exp, camera=cam, projected=p, error=err)


def fit_photo(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    data: SdmModel,
    config,
    cascade: Cascade | None = None,
) -> dict[str, PhotoFit]:
    """Reconstructs the face of a photograph: landmark fit (eqs. 6-7), then the cascade (eq. 12).

    The photograph is cropped to the experiment's framing (:func:`photo_crop`, side
    ``config.data.image_size``, radius :data:`TRAINING_RADIUS` scaled from 128 pixels); on the
    crop, :func:`aujax.methods.sdm.fit_landmarks` with the
    run's ``config.fit`` (lambdas, iterations) gives ``g^0`` and, with a cascade trained by the
    experiment (its ``ours`` method: HOG + LD features with ``config.features``, camera re-solved
    by eq. 6 after each stage), :func:`aujax.methods.sdm.apply_cascade` refines it.

    Args:
        image: (H, W) or (H, W, 3) photograph, uint8 or float in [0, 1].
        landmarks: (68, 2) iBUG-68 landmarks in photo pixels (pinhole convention).
        data: the run's model (:func:`aujax.methods.sdm.load_sdm_model`).
        config: the run's config (``data.image_size``, ``fit``, ``features``).
        cascade: an ``ours`` cascade of the run (:func:`aujax.methods.sdm.load_cascade`), or None.

    Returns:
        ``{"landmarks": PhotoFit}``, plus ``"cascade"`` when a cascade is given.
    """
    lm = np.asarray(landmarks, np.float64)
    n = int(np.asarray(data.landmark_vertices).shape[0])
    if lm.shape != (n, 2):
        raise ValueError(f"landmarks must have shape ({n}, 2) (the model's landmarks), got "
                         f"{lm.shape}.")  # fmt: skip
    size = int(config.data.image_size)  # the renders frame the face alike at every size
    crop = photo_crop(image, lm, size=size, radius=TRAINING_RADIUS * size / 128.0)
    model, lv = data.model, jnp.asarray(data.landmark_vertices)
    f = config.fit
    r = fit_landmarks(model, crop.landmarks, lv, n_iterations=int(f.n_iterations),
                      lambda_id=float(f.lambda_id), lambda_exp=float(f.lambda_exp))  # fmt: skip
    out = {"landmarks": _photo_fit(data, crop, r.w_id, r.w_exp, r.camera, lm)}
    if cascade is None:
        return out
    method = make_method("ours", model, data.landmark_vertices, config.features)
    g0 = jnp.concatenate([r.w_id, r.w_exp]).astype(jnp.float32)
    p = cascade.regressors.coef.shape[-1]
    if g0.shape[0] != p:
        raise ValueError(f"the cascade regresses {p} parameters, the model has {g0.shape[0]} "
                         "(n_id + n_exp): a cascade of another run's model?")  # fmt: skip
    sample = {"image": crop.image[None], "landmarks": crop.landmarks[None]}
    fit = apply_cascade_batch(cascade, g0[None], sample, features=method.features,
                              camera=method.camera)  # fmt: skip
    g = fit.g[0]
    a, b = g[: model.n_id], g[model.n_id :]
    cam = jax.tree.map(lambda x: x[0], fit.camera)  # eq. 6 from the final weights
    if not bool(jnp.all(jnp.isfinite(g))):
        raise ValueError("the cascade diverged on this photograph (non-finite weights).")
    out["cascade"] = _photo_fit(data, crop, a, b, cam, lm)
    return out
