"""Geometry: camera models, calibration, back-projection (seed 000, eq. 3) and alignment (eq. 4).

Camera frame (OpenCV): x right, y down, z forward; pixels ``(u, v) = (col, row)``;
``P = K [R | t]`` with ``x_cam = R X + t``. Model/blendshape frame of the face: x toward the
subject's left, y up, z toward the camera. The alignment functions are frame-agnostic.
"""

from ._alignment import (
    SimilarityTransform as SimilarityTransform,
    kabsch as kabsch,
    register_similarity as register_similarity,
    remove_head_pose as remove_head_pose,
    umeyama as umeyama,
)
from ._calibration import (
    Calibration as Calibration,
    dlt_calibrate as dlt_calibrate,
    rq_decomposition as rq_decomposition,
)
from ._camera import PROJECTIONS as PROJECTIONS, Camera as Camera
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
