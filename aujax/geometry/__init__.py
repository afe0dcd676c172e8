"""Geometry: cameras, calibration, back-projection (seed 000, eq. 3) and alignment (eq. 4).

The frame conventions (model frame, the pinhole camera's OpenCV frame, the orthographic crop
camera, pixel centres) are stated once, in the docstring of the camera module
(``aujax.geometry._camera``). The alignment functions are frame-agnostic.
"""

from ._alignment import (
    SimilarityTransform as SimilarityTransform,
    kabsch as kabsch,
    register_similarity as register_similarity,
    remove_head_pose as remove_head_pose,
    scaled_orthographic_pose as scaled_orthographic_pose,
    umeyama as umeyama,
)
from ._calibration import (
    Calibration as Calibration,
    dlt_calibrate as dlt_calibrate,
    rq_decomposition as rq_decomposition,
)
from ._camera import (
    MODEL_TO_OPENCV as MODEL_TO_OPENCV,
    PROJECTIONS as PROJECTIONS,
    Camera as Camera,
    OrthoCamera as OrthoCamera,
    check_image_size as check_image_size,
    frame_vertices as frame_vertices,
    look_rotation as look_rotation,
    project as project,
    to_camera_frame as to_camera_frame,
)
from ._projection import (
    backproject as backproject,
    intrinsics_matrix as intrinsics_matrix,
    look_at_pose as look_at_pose,
    perspective_project as perspective_project,
    scaled_orthographic_project as scaled_orthographic_project,
    weak_perspective_project as weak_perspective_project,
)
from ._rotation import (
    rotation_from_axis_angle as rotation_from_axis_angle,
    skew_matrix as skew_matrix,
)
