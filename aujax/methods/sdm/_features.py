r"""The joint HOG + landmark-displacement feature of seed 004 (eqs. 8-10).

For one image ``I``, the detected landmarks ``l_i`` and the projections ``P_i(g, c)`` of the
model's landmark vertices at the current estimate (eqs. 3-4):

.. math::
    u_i = \frac{l_i - P_i(g, c)}{r}, \qquad
    u = [u_1, \dots, u_L] \quad \text{(eqs. 8-9)}, \qquad
    F = \begin{bmatrix} h \\ u \end{bmatrix}
      = \begin{bmatrix} h_1 & \dots & h_L \\ u_1 & \dots & u_L \end{bmatrix}
    \quad \text{(eq. 10)},

with ``h_i`` the HOG of the patch of ``I`` centred at ``P_i`` (:func:`aujax.render.hog`, equal to
``skimage.feature.hog``), flattened as ``[h_1, ..., h_L, u_1, ..., u_L]`` (``u_i = (du_x, du_y)``).

**Where the paper is silent, and what is chosen here** (all in :class:`FeatureConfig`):

* *Scale.* The paper cuts 64 x 64-pixel patches from Bosphorus photographs and uses the raw pixel
  displacement. Both depend on the image resolution, and the paper calls the joint feature
  robust to scale; here both are measured in units of a reference length ``r`` of the face in
  the image: the RMS distance of the *detected* landmarks from their centroid (scheme-agnostic,
  fixed over the cascade's stages because the detections do not move, and needs no camera; on
  the aujax template ``r`` is 5.6 cm for the 68 points, 4.6 cm for the inner 49). The patch side
  is ``patch_extent * r`` image pixels, resampled bilinearly to ``patch_size`` samples
  (:func:`aujax.render.extract_patches`), and ``u_i`` is divided by ``r`` (eq. 9 made
  dimensionless). ``patch_extent = None`` gives the paper's fixed patches of ``patch_size``
  image pixels; ``normalize_ld = False`` the paper's pixel displacements.
* *Patch and HOG layout.* Default ``patch_extent = 0.5`` (2.8 cm on a 68-point face, about 0.44
  of the inter-pupil distance: the eye, brow, nose and mouth corners each fill a patch with some
  context), ``patch_size = 16`` samples (the synthetic 128-pixel crops show a face with ``r``
  near 28 px, so a patch is sampled at about the image's own resolution), 4 x 4-sample cells,
  one block of 4 x 4 cells, 9 unsigned orientations, ``L2-Hys``: the HOG counterpart of the SIFT
  descriptor of the supervised descent method (seed 004's ref. [19]; 4 x 4 cells x 8
  orientations, normalised jointly, clipped at 0.2 and renormalised), 144 values per landmark.
* *No anti-aliasing.* With ``patch_extent * r`` well above ``patch_size`` (large photographs),
  downsample the image first so that ``r`` is a few tens of pixels.

Images are grayscale (H, W); (H, W, 3) colour images are converted with skimage's ``rgb2gray``
weights (0.2125, 0.7154, 0.0721). Landmarks are ``(x, y)`` pixels in the pixel-centre convention
of the config (``"pinhole"``: pixel ``(row, col)`` at ``(col, row)``, as ``.lm2`` / ``.pts``
files; ``"ortho"``: at ``(col + 0.5, row + 0.5)``, as :class:`aujax.geometry.OrthoCamera`).
"""

import functools

import jax
import jax.numpy as jnp
from flax import struct
from jaxtyping import Array, ArrayLike, Float

from ..._checks import check_finite
from ...render import BLOCK_NORMS, extract_patches, hog, hog_size


__all__ = ["FeatureConfig", "feature_size", "reference_length", "sdm_features"]

_GRAY = (0.2125, 0.7154, 0.0721)  # skimage.color.rgb2gray


@struct.dataclass
class FeatureConfig:
    """Hyper-parameters of the eq. (10) feature of seed 004 (all static; hashable).

    Attributes:
        patch_size: samples per side of a landmark patch.
        patch_extent: patch side as a fraction of the reference length ``r`` (the RMS radius of
            the detected landmarks, :func:`reference_length`); None: ``patch_size`` image pixels
            (the paper's fixed-pixel patches).
        orientations: HOG orientation bins over [0, 180) degrees.
        pixels_per_cell: HOG cell, in patch samples (rows, columns).
        cells_per_block: HOG block, in cells (rows, columns).
        block_norm: HOG block normalisation, one of ``aujax.render.BLOCK_NORMS``.
        use_hog: include the HOG part ``h`` (False: an LD-only feature).
        use_ld: include the landmark displacements ``u`` (False: the HOG-only feature of the
            Zhu et al. baseline).
        normalize_ld: divide ``u`` by ``r`` (False: pixels, as eq. 9 is written).
        convention: pixel-centre convention of the landmarks, ``"pinhole"`` or ``"ortho"``
            (:func:`aujax.render.extract_patches`).
    """

    patch_size: int = struct.field(pytree_node=False, default=16)
    patch_extent: float | None = struct.field(pytree_node=False, default=0.5)
    orientations: int = struct.field(pytree_node=False, default=9)
    pixels_per_cell: tuple[int, int] = struct.field(pytree_node=False, default=(4, 4))
    cells_per_block: tuple[int, int] = struct.field(pytree_node=False, default=(4, 4))
    block_norm: str = struct.field(pytree_node=False, default="L2-Hys")
    use_hog: bool = struct.field(pytree_node=False, default=True)
    use_ld: bool = struct.field(pytree_node=False, default=True)
    normalize_ld: bool = struct.field(pytree_node=False, default=True)
    convention: str = struct.field(pytree_node=False, default="pinhole")

    def __post_init__(self):
        for name in ("pixels_per_cell", "cells_per_block"):  # hashable pairs of ints
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, tuple(int(v) for v in value))
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name} must be a pair of positive ints, got {value!r}."
                ) from None
        if isinstance(self.patch_size, bool) or not isinstance(self.patch_size, int):
            raise ValueError(f"patch_size must be a positive int, got {self.patch_size!r}.")
        if self.patch_size < 1:
            raise ValueError(f"patch_size must be a positive int, got {self.patch_size!r}.")
        if self.patch_extent is not None and not float(self.patch_extent) > 0:
            raise ValueError(f"patch_extent must be > 0 or None, got {self.patch_extent!r}.")
        if self.block_norm not in BLOCK_NORMS:
            raise ValueError(f"block_norm must be one of {BLOCK_NORMS}, got {self.block_norm!r}.")
        if self.convention not in ("pinhole", "ortho"):
            raise ValueError(f"convention must be 'pinhole' or 'ortho', got {self.convention!r}.")
        if not (self.use_hog or self.use_ld):
            raise ValueError("FeatureConfig needs use_hog or use_ld (or both).")
        if self.use_hog:  # raises for a patch smaller than one block, bad cells or orientations
            self.hog_length  # noqa: B018

    @property
    def hog_length(self) -> int:
        """Length of one landmark's HOG vector ``h_i`` (0 when ``use_hog`` is False)."""
        if not self.use_hog:
            return 0
        return hog_size(
            self.patch_size,
            self.patch_size,
            orientations=self.orientations,
            pixels_per_cell=self.pixels_per_cell,
            cells_per_block=self.cells_per_block,
        )


def feature_size(config: FeatureConfig, n_landmarks: int) -> int:
    """Length ``F`` of :func:`sdm_features`: ``L * hog_length + 2 L`` (parts as configured).

    Args:
        config: the feature configuration.
        n_landmarks: number of landmarks ``L``.

    Returns:
        The feature length.
    """
    if isinstance(n_landmarks, bool) or not isinstance(n_landmarks, int) or n_landmarks < 1:
        raise ValueError(f"n_landmarks must be a positive int, got {n_landmarks!r}.")
    return n_landmarks * (config.hog_length + (2 if config.use_ld else 0))


def reference_length(detected: Float[ArrayLike, "L 2"]) -> Float[Array, ""]:
    r"""The face's reference length ``r`` in the image: the RMS radius of the landmarks.

    .. math:: r = \sqrt{\tfrac{1}{L} \textstyle\sum_i \|l_i - \bar l\|^2}

    Args:
        detected: (L, 2) detected landmarks, pixels.

    Returns:
        () ``r`` in pixels.
    """
    detected = jnp.asarray(detected)
    centred = detected - jnp.mean(detected, axis=0, keepdims=True)
    return jnp.sqrt(jnp.mean(jnp.sum(centred * centred, axis=-1)))


def _grayscale(image: Array) -> Array:
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 3:
        return image @ jnp.asarray(_GRAY, dtype=image.dtype)
    raise ValueError(
        f"image must be (H, W) grayscale or (H, W, 1) / (H, W, 3), got shape {image.shape}."
    )


def sdm_features(
    image: Float[ArrayLike, "H W"],
    projected: Float[ArrayLike, "L 2"],
    detected: Float[ArrayLike, "L 2"],
    *,
    config: FeatureConfig,
    reference: Float[ArrayLike, ""] | None = None,
) -> Float[Array, " F"]:
    r"""The feature ``F(I, P_{i in L}(g, c))`` of seed 004, eqs. (8)-(10), for one image.

    HOG of the patches of ``image`` centred at the projected landmarks, concatenated over the
    landmarks, then the normalised displacements ``u_i = (l_i - P_i) / r`` (module docstring):
    ``[h_1, ..., h_L, u_1x, u_1y, ..., u_Lx, u_Ly]``. For one example; ``jax.vmap`` over images
    (and over rows of a cascade); jit with ``config`` static (it is hashable).

    Args:
        image: (H, W) grayscale image (or (H, W, 3), converted), floating point; computed in its
            dtype.
        projected: (L, 2) projections ``P_i(g, c)`` of the model's landmarks, ``(x, y)`` pixels.
        detected: (L, 2) detected landmarks ``l_i``, same convention, finite.
        config: the :class:`FeatureConfig`.
        reference: optional () reference length ``r`` in pixels (default
            :func:`reference_length` of ``detected``), e.g. the camera scale times a length on
            the model.

    Returns:
        (F,) features, ``F = feature_size(config, L)``.

    Raises:
        ValueError: malformed shapes, or non-finite landmarks (value check on concrete inputs).
    """
    image = jnp.asarray(image)
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise ValueError(f"image must be a floating-point array, got dtype {image.dtype}.")
    image = _grayscale(image)
    dtype = image.dtype
    projected = jnp.asarray(projected)
    detected = jnp.asarray(detected)
    for name, x in (("projected", projected), ("detected", detected)):
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"{name} must have shape (L, 2) (x, y pixels), got {x.shape}.")
    if projected.shape != detected.shape:
        raise ValueError(
            f"projected and detected must hold the same landmarks, got shapes {projected.shape} "
            f"and {detected.shape}."
        )
    check_finite(projected, "projected")
    check_finite(detected, "detected")
    projected, detected = projected.astype(dtype), detected.astype(dtype)
    r = reference_length(detected) if reference is None else jnp.asarray(reference, dtype)

    parts = []
    if config.use_hog:
        spacing = (
            1.0 if config.patch_extent is None else config.patch_extent * r / config.patch_size
        )
        patches = extract_patches(
            image, projected, size=config.patch_size, spacing=spacing,
            convention=config.convention,
        )  # fmt: skip
        hog_one = functools.partial(
            hog, orientations=config.orientations, pixels_per_cell=config.pixels_per_cell,
            cells_per_block=config.cells_per_block, block_norm=config.block_norm,
        )  # fmt: skip
        parts.append(jax.vmap(hog_one)(patches).reshape(-1))  # (L * hog_length,)
    if config.use_ld:
        u = detected - projected
        if config.normalize_ld:
            u = u / r
        parts.append(u.reshape(-1))
    return jnp.concatenate(parts)
