"""Cameras: the pinhole camera of 2D landmarks and the orthographic camera of rendered crops.

The frame convention of every camera in aujax, stated here once:

* Model frame (meshes, blendshapes, 3D landmarks; cm; DESIGN §2): right-handed, x toward the
  subject's left, y up, z out of the face toward the camera.
* Image: ``u`` grows along a row to the right (columns), ``v`` down the image (rows). A frontal
  view shows the subject's left (+x) on the image right and the brows (+y) above the chin, so
  model y and image v point opposite ways: each camera flips y exactly once, as below.
* :class:`OrthoCamera` (the renderer's aligned crops): the camera frame is the model frame
  rotated, ``c = R x`` (x right, y up, z toward the camera; larger z is nearer), and y flips in
  the pixel map: ``u = s c_x + t_x``, ``v = t_y - s c_y``. Pixel ``(row, col)`` is centred at
  ``(u, v) = (col + 0.5, row + 0.5)``.
* :class:`Camera` (pinhole, seed 000 eq. 3): the OpenCV camera frame, x right, y down, z forward
  (away from the camera), with ``c = R x + t``; y (and z) flip in the rotation: a camera on the
  model's +z axis looking at the face has ``R = MODEL_TO_OPENCV = diag(1, -1, -1)``
  (:func:`look_at_pose`). Pixels ``(u, v, 1) ~ K c``; pixel ``(row, col)`` is centred at
  ``(u, v) = (col, row)``.

So a point at ``(u, v)`` of an :class:`OrthoCamera` image has the pinhole-convention coordinates
``(u - 0.5, v - 0.5)`` in the same image.

:class:`Camera` bundles what the top-down engine needs to lift 2D landmarks to 3D: the intrinsic
matrix ``W`` and either full perspective (depth per point, known or estimated) or the paper's
weak perspective (every landmark at the common depth ``zbar``, a hyper-parameter).
:class:`OrthoCamera` (rotation, scale, image-plane translation and image size) is what
``aujax.render`` renders with; :func:`frame_vertices` fits one to a mesh and
:func:`look_rotation` gives a head-pose rotation for it.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float

from .._checks import as_float, check_finite, check_shape
from ._checks import check_positive, common_float_dtype
from ._projection import (
    _check_intrinsics,
    backproject,
    perspective_project,
    weak_perspective_project,
)


__all__ = [
    "MODEL_TO_OPENCV",
    "PROJECTIONS",
    "Camera",
    "OrthoCamera",
    "check_image_size",
    "frame_vertices",
    "look_rotation",
    "project",
    "to_camera_frame",
]

PROJECTIONS = ("perspective", "weak_perspective")

#: (3, 3) float64 rotation from the model frame to the OpenCV frame of a frontal pinhole camera.
MODEL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
MODEL_TO_OPENCV.flags.writeable = False


@struct.dataclass
class Camera:
    """Intrinsics and projection model of a camera observing 2D landmarks.

    Attributes:
        intrinsics: (3, 3) intrinsic matrix ``W`` (= ``K``).
        depth: () common depth ``zbar`` > 0 (required for ``"weak_perspective"``; optional for
            ``"perspective"``, where it is a default depth for :meth:`backproject`), or None.
        projection: ``"perspective"`` or ``"weak_perspective"`` (static).
    """

    intrinsics: Float[Array, "3 3"]
    depth: Float[Array, ""] | None = None
    projection: str = struct.field(pytree_node=False, default="perspective")

    @classmethod
    def create(
        cls,
        intrinsics: Float[ArrayLike, "3 3"],
        *,
        projection: str = "perspective",
        depth: Float[ArrayLike, ""] | None = None,
    ) -> "Camera":
        """Builds a validated camera.

        Args:
            intrinsics: (3, 3) invertible intrinsic matrix.
            projection: one of :data:`PROJECTIONS`.
            depth: common depth ``zbar`` > 0; required for ``"weak_perspective"``.

        Returns:
            The camera.

        Raises:
            ValueError: unknown projection, missing or non-positive depth, bad intrinsics.
        """
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}.")
        dtype = common_float_dtype(intrinsics, *(() if depth is None else (depth,)))
        intrinsics = as_float(intrinsics, "intrinsics", dtype)
        _check_intrinsics(intrinsics)
        if depth is None:
            if projection == "weak_perspective":
                raise ValueError(
                    "depth (the common depth zbar) is required for projection='weak_perspective'."
                )
        else:
            depth = as_float(depth, "depth", dtype)
            check_shape(depth, "depth", (), "() (a scalar)")
            check_finite(depth, "depth")
            check_positive(depth, "depth")
        return cls(intrinsics=intrinsics, depth=depth, projection=projection)

    def project(self, points: Float[Array, "n 3"]) -> Float[Array, "n 2"]:
        """Camera-frame points (n, 3) to pixels (n, 2) with this camera's projection model."""
        if self.projection == "perspective":
            return perspective_project(points, self.intrinsics)
        return weak_perspective_project(points, self.intrinsics, depth=self.depth)

    def backproject(
        self,
        points_2d: Float[Array, "n 2"],
        depth: Float[ArrayLike, ""] | Float[ArrayLike, " n"] | None = None,
    ) -> Float[Array, "n 3"]:
        """Eq. 3: pixels (n, 2) to camera-frame points (n, 3) at ``depth`` (default ``self.depth``).

        With ``"weak_perspective"`` and no ``depth`` this inverts :meth:`project` exactly
        (all points at ``zbar``); see :func:`backproject`.
        """
        if depth is None:
            if self.depth is None:
                raise ValueError("depth is required: this camera has no default depth.")
            depth = self.depth
        return backproject(points_2d, self.intrinsics, depth)


# --- the orthographic camera of rendered crops -------------------------------------------------

MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 1024


def check_image_size(height: int, width: int) -> None:
    """Raises ValueError unless height and width are Python ints in [8, 1024]."""
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be a Python int, got {type(value).__name__}")
        if not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
            raise ValueError(
                f"{name} must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels, got {value}"
            )


def _check_vertices(vertices: Array, name: str = "vertices") -> None:
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {vertices.shape}")
    if not jnp.issubdtype(vertices.dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {vertices.dtype}")


@struct.dataclass
class OrthoCamera:
    """An orthographic (scaled-orthographic) camera: ``c = R x``, ``u = s c_x + t_x``,
    ``v = t_y - s c_y`` (frames and pixel centres: the module docstring).

    Attributes:
        rotation: (3, 3) rotation ``R`` from the model frame to the camera frame.
        scale: () pixels per centimetre ``s``.
        translation: (2,) pixel position ``(t_x, t_y)`` of the camera-frame origin.
        height: image height in pixels (static).
        width: image width in pixels (static).
    """

    rotation: Float[Array, "3 3"]
    scale: Float[Array, ""]
    translation: Float[Array, "2"]
    height: int = struct.field(pytree_node=False)
    width: int = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        *,
        height: int,
        width: int,
        scale: ArrayLike,
        translation: ArrayLike | None = None,
        rotation: ArrayLike | None = None,
        dtype=None,
    ) -> "OrthoCamera":
        """Builds a camera, defaulting to the identity rotation and a centred origin.

        Args:
            height: image height in pixels, 8..1024.
            width: image width in pixels, 8..1024.
            scale: pixels per centimetre.
            translation: (2,) pixel position of the origin; default the image centre.
            rotation: (3, 3) rotation matrix; default identity.
            dtype: floating dtype of the array fields; default JAX's default float.

        Returns:
            The camera.
        """
        check_image_size(height, width)
        dtype = jnp.zeros((), dtype=dtype if dtype is not None else float).dtype
        rotation = jnp.eye(3, dtype=dtype) if rotation is None else jnp.asarray(rotation, dtype)
        if rotation.shape != (3, 3):
            raise ValueError(f"rotation must have shape (3, 3), got {rotation.shape}")
        if translation is None:
            translation = (width / 2.0, height / 2.0)
        translation = jnp.asarray(translation, dtype)
        if translation.shape != (2,):
            raise ValueError(f"translation must have shape (2,), got {translation.shape}")
        scale = jnp.asarray(scale, dtype)
        if scale.shape != ():
            raise ValueError(f"scale must be a scalar, got shape {scale.shape}")
        return cls(rotation, scale, translation, height=height, width=width)

    def resized(self, factor: int) -> "OrthoCamera":
        """The same view at ``factor`` times the resolution (used for supersampling)."""
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ValueError(f"factor must be a positive int, got {factor!r}")
        return OrthoCamera(
            self.rotation,
            self.scale * factor,
            self.translation * factor,
            height=self.height * factor,
            width=self.width * factor,
        )


def to_camera_frame(camera: OrthoCamera, vectors: Float[Array, "n 3"]) -> Float[Array, "n 3"]:
    """Rotates model-frame points or directions into the camera frame, ``R x``.

    Args:
        camera: the camera.
        vectors: (n, 3) points or directions in the model frame.

    Returns:
        (n, 3) the same in the camera frame of :class:`OrthoCamera`, in the dtype of
        ``vectors``.
    """
    vectors = jnp.asarray(vectors)
    _check_vertices(vectors, "vectors")
    rotation = camera.rotation.astype(vectors.dtype)
    return vectors @ rotation.T


def project(camera: OrthoCamera, vertices: Float[Array, "n 3"]) -> Float[Array, "n 3"]:
    """Projects model-frame vertices to pixel coordinates and camera depth (y flips here).

    .. math::
        c = R x,\\quad u = s\\,c_x + t_x,\\quad v = t_y - s\\,c_y,\\quad z = c_z

    Args:
        camera: the camera.
        vertices: (n, 3) vertices in the model frame (cm).

    Returns:
        (n, 3) columns ``(u, v, z)``: pixel coordinates (u right, v down; pixel centres at
        half-integers) and camera-frame depth in cm (larger z is nearer the camera), in the
        dtype of ``vertices``.
    """
    camera_xyz = to_camera_frame(camera, vertices)
    dtype = camera_xyz.dtype
    scale = camera.scale.astype(dtype)
    translation = camera.translation.astype(dtype)
    u = scale * camera_xyz[:, 0] + translation[0]
    v = translation[1] - scale * camera_xyz[:, 1]
    return jnp.stack([u, v, camera_xyz[:, 2]], axis=-1)


def frame_vertices(
    vertices: Float[Array, "n 3"],
    *,
    height: int,
    width: int,
    margin: float = 0.1,
    rotation: ArrayLike | None = None,
) -> OrthoCamera:
    """An orthographic camera that fits the vertices' bounding box into the image.

    The rotated bounding box is centred and scaled uniformly so that it fills the image
    less a ``margin`` fraction of each side along its limiting axis. Works under ``jit``
    and ``vmap`` (the size comes from ``height``/``width``, the fit from array values).

    Args:
        vertices: (n, 3) vertices in the model frame.
        height: image height in pixels, 8..1024.
        width: image width in pixels, 8..1024.
        margin: fraction of the image left empty at each side, in [0, 0.5).
        rotation: (3, 3) model-to-camera rotation (e.g. from :func:`look_rotation`);
            default identity (frontal view).

    Returns:
        The camera, with array fields in the dtype of ``vertices``.
    """
    vertices = jnp.asarray(vertices)
    _check_vertices(vertices)
    check_image_size(height, width)
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    if not isinstance(vertices, jax.core.Tracer) and not np.all(np.isfinite(vertices)):
        raise ValueError("vertices contains NaN or infinite values")
    dtype = vertices.dtype
    rotation = jnp.eye(3, dtype=dtype) if rotation is None else jnp.asarray(rotation, dtype)
    if rotation.shape != (3, 3):
        raise ValueError(f"rotation must have shape (3, 3), got {rotation.shape}")
    camera_xy = (vertices @ rotation.T)[:, :2]
    lo = jnp.min(camera_xy, axis=0)
    hi = jnp.max(camera_xy, axis=0)
    extent = jnp.maximum(hi - lo, jnp.finfo(dtype).tiny ** 0.5)
    centre = 0.5 * (lo + hi)
    scale = (1.0 - 2.0 * margin) * jnp.minimum(width / extent[0], height / extent[1])
    translation = jnp.stack([width / 2.0 - scale * centre[0], height / 2.0 + scale * centre[1]])
    return OrthoCamera(rotation, scale, translation, height=height, width=width)


def look_rotation(yaw: ArrayLike, pitch: ArrayLike, roll: ArrayLike) -> Float[Array, "3 3"]:
    """Head-pose rotation ``R = R_z(roll) R_x(pitch) R_y(yaw)`` (right-hand rule, radians).

    Applied to a model-frame head (x toward its left, y up, z toward the camera): positive
    yaw turns the nose toward image right (+x), positive pitch tips the nose down (-y) and
    positive roll turns the head counter-clockwise in the image.

    Args:
        yaw: () rotation about the y axis.
        pitch: () rotation about the x axis.
        roll: () rotation about the z axis.

    Returns:
        (3, 3) rotation matrix, dtype of the promoted angles (default float if Python floats).
    """
    yaw, pitch, roll = (jnp.asarray(a) for a in (yaw, pitch, roll))
    for name, a in (("yaw", yaw), ("pitch", pitch), ("roll", roll)):
        if a.shape != ():
            raise ValueError(f"{name} must be a scalar angle, got shape {a.shape}")
    dtype = jnp.result_type(yaw, pitch, roll, float)
    yaw, pitch, roll = (a.astype(dtype) for a in (yaw, pitch, roll))
    one, zero = jnp.ones((), dtype), jnp.zeros((), dtype)

    def mat(rows):
        return jnp.stack([jnp.stack(r) for r in rows])

    cy, sy = jnp.cos(yaw), jnp.sin(yaw)
    cp, sp = jnp.cos(pitch), jnp.sin(pitch)
    cr, sr = jnp.cos(roll), jnp.sin(roll)
    r_yaw = mat([[cy, zero, sy], [zero, one, zero], [-sy, zero, cy]])
    r_pitch = mat([[one, zero, zero], [zero, cp, -sp], [zero, sp, cp]])
    r_roll = mat([[cr, -sr, zero], [sr, cr, zero], [zero, zero, one]])
    return r_roll @ r_pitch @ r_yaw
