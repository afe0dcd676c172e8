"""The face: procedural template, landmarks, identity, muscles, FACS table, blendshapes, bilinear
identity x expression model, morphable model (3DMM) and PCA, OBJ I/O."""

from ._anthropometry import (
    FACIAL_MEASURES as FACIAL_MEASURES,
    FARKAS_NAC as FARKAS_NAC,
    Norm as Norm,
    facial_measures as facial_measures,
)
from ._au_checks import AUCheck as AUCheck, au_motion_checks as au_motion_checks
from ._bilinear import HOSVD as HOSVD, BilinearModel as BilinearModel, hosvd as hosvd
from ._blendshapes import BlendshapeModel as BlendshapeModel
from ._calibration import (
    CalibrationWarp as CalibrationWarp,
    calibrate_template as calibrate_template,
    calibration_warp as calibration_warp,
    landmark_rms as landmark_rms,
    mediapipe_mirror as mediapipe_mirror,
)
from ._facs import (
    AU_IDS as AU_IDS,
    AU_NAMES as AU_NAMES,
    AU_PEAK_DISPLACEMENT as AU_PEAK_DISPLACEMENT,
    FACS_MUSCLES as FACS_MUSCLES,
    au_muscle_matrix as au_muscle_matrix,
    check_au as check_au,
)
from ._identity import (
    FARKAS_MODE_MEASURES as FARKAS_MODE_MEASURES,
    IDENTITY_MODES as IDENTITY_MODES,
    IDENTITY_SCALINGS as IDENTITY_SCALINGS,
    Subject as Subject,
    identity_basis as identity_basis,
    identity_scale_factors as identity_scale_factors,
    sample_subject as sample_subject,
    skin_albedo as skin_albedo,
)
from ._landmarks import (
    CONTOUR_LANDMARKS as CONTOUR_LANDMARKS,
    IDX49 as IDX49,
    IDX66 as IDX66,
    LANDMARK_SCHEMES as LANDMARK_SCHEMES,
    RIGID_LANDMARKS as RIGID_LANDMARKS,
    landmark_subset as landmark_subset,
    landmarks_from_vertices as landmarks_from_vertices,
)
from ._mediapipe import (
    MEDIAPIPE_FACE_OVAL as MEDIAPIPE_FACE_OVAL,
    MEDIAPIPE_SCHEME as MEDIAPIPE_SCHEME,
    MEDIAPIPE_TO_IBUG68 as MEDIAPIPE_TO_IBUG68,
    canonical_face_model as canonical_face_model,
    ibug68_from_mediapipe as ibug68_from_mediapipe,
    mediapipe_embedding as mediapipe_embedding,
)
from ._morphable import (
    PCA as PCA,
    MorphableModel as MorphableModel,
    pca as pca,
    template_albedos as template_albedos,
)
from ._muscles import (
    MUSCLE_SPECS as MUSCLE_SPECS,
    MuscleSet as MuscleSet,
    MuscleSpec as MuscleSpec,
    make_muscles as make_muscles,
    muscle_names as muscle_names,
    vertex_areas as vertex_areas,
)
from ._obj import read_obj as read_obj, write_obj as write_obj
from ._template import (
    REGION_NAMES as REGION_NAMES,
    SLIT_NAMES as SLIT_NAMES,
    FaceTemplate as FaceTemplate,
    boundary_vertices as boundary_vertices,
    is_procedural as is_procedural,
    make_face as make_face,
    mirror_map as mirror_map,
    reference_vertices as reference_vertices,
    vertex_deformation_gradients as vertex_deformation_gradients,
)
