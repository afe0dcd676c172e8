"""A pinhole camera for 2D landmarks: intrinsics plus the projection model (seed 000, eq. 3).

Bundles what the top-down engine needs to lift 2D landmarks to 3D: the intrinsic matrix ``W``
and either full perspective (depth per point, known or estimated) or the paper's weak
perspective (every landmark at the common depth ``zbar``, a hyper-parameter). Camera frame
(OpenCV): x right, y down, z forward; pixels ``(u, v) = (col, row)``.
"""

from flax import struct
from jaxtyping import Array, ArrayLike, Float

from ._checks import as_float, check_finite, check_positive, check_shape, common_float_dtype
from ._projection import (
    _check_intrinsics,
    backproject,
    perspective_project,
    weak_perspective_project,
)


__all__ = ["PROJECTIONS", "Camera"]

PROJECTIONS = ("perspective", "weak_perspective")


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
