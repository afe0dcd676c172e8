"""Orthographic camera: rotation, scale and image-plane translation to pixel coordinates."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float


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
    """An orthographic (scaled-orthographic) camera.

    A model-frame point ``x`` (cm) goes to the camera frame as ``y = R x`` (x right, y up,
    z toward the camera) and then to pixels as ``u = s y_x + t_x`` (right) and
    ``v = t_y - s y_y`` (down). Pixel ``(row, col)`` has its centre at
    ``(u, v) = (col + 0.5, row + 0.5)``.

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
        (n, 3) the same in the camera frame (x right, y up, z toward the camera), in the
        dtype of ``vectors``.
    """
    vectors = jnp.asarray(vectors)
    _check_vertices(vectors, "vectors")
    rotation = camera.rotation.astype(vectors.dtype)
    return vectors @ rotation.T


def project(camera: OrthoCamera, vertices: Float[Array, "n 3"]) -> Float[Array, "n 3"]:
    """Projects model-frame vertices to pixel coordinates and camera depth.

    .. math::
        y = R x,\\quad u = s\\,y_x + t_x,\\quad v = t_y - s\\,y_y,\\quad z = y_z

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
