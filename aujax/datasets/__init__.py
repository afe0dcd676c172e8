"""Datasets: the real on-disk layouts (BP4D, DISFA, Bosphorus, FaceWarehouse) read and written, the official
subject folds, the TFDS builders, grain loaders and the per-frame tables experiments train from
(DESIGN §6.2-6.3, REFERENCE §1-2).

The readers parse the real layouts unchanged; the synthetic generator (:mod:`aujax.synth`) writes
the same layouts, so one path serves both. Malformed input raises a ``ValueError`` naming the file
(and the line or field). Host-side NumPy and h5py: importing this package does not import jax
(``grain``, which does, is imported where a loader is built).
"""

from ._bnt import (
    DEFAULT_ZMIN as DEFAULT_ZMIN,
    RangeScan as RangeScan,
    range_scan_from_depth as range_scan_from_depth,
    read_bnt as read_bnt,
    write_bnt as write_bnt,
)
from ._bosphorus import (
    BosphorusSample as BosphorusSample,
    list_bosphorus_samples as list_bosphorus_samples,
    read_bosphorus_image as read_bosphorus_image,
    read_bosphorus_sample as read_bosphorus_sample,
    write_bosphorus_image as write_bosphorus_image,
    write_bosphorus_sample as write_bosphorus_sample,
)
from ._bosphorus_names import (
    BOSPHORUS_CLASSES as BOSPHORUS_CLASSES,
    BosphorusName as BosphorusName,
    bosphorus_name as bosphorus_name,
    parse_bosphorus_name as parse_bosphorus_name,
)
from ._bosphorus_sdm import (
    BOSPHORUS_CAU_CODES as BOSPHORUS_CAU_CODES,
    BOSPHORUS_EMOTION_CODES as BOSPHORUS_EMOTION_CODES,
    BOSPHORUS_LFAU_CODES as BOSPHORUS_LFAU_CODES,
    BOSPHORUS_OCCLUSIONS as BOSPHORUS_OCCLUSIONS,
    BOSPHORUS_ROTATIONS as BOSPHORUS_ROTATIONS,
    BOSPHORUS_UFAU_CODES as BOSPHORUS_UFAU_CODES,
    GT_SUFFIX as GT_SUFFIX,
    SdmGroundTruth as SdmGroundTruth,
    SdmSample as SdmSample,
    bosphorus_pose as bosphorus_pose,
    read_pts as read_pts,
    read_sdm_ground_truth as read_sdm_ground_truth,
    sdm_samples as sdm_samples,
    write_pts as write_pts,
    write_sdm_ground_truth as write_sdm_ground_truth,
)
from ._bp4d import (
    BP4D_INTENSITY_DIRS as BP4D_INTENSITY_DIRS,
    BP4D_OCC_MAX_AU as BP4D_OCC_MAX_AU,
    BP4DSequence as BP4DSequence,
    list_bp4d_sequences as list_bp4d_sequences,
    read_bp4d_frames as read_bp4d_frames,
    read_bp4d_sequence as read_bp4d_sequence,
    write_bp4d_frames as write_bp4d_frames,
    write_bp4d_sequence as write_bp4d_sequence,
)
from ._disfa import (
    N_DISFA_LANDMARKS as N_DISFA_LANDMARKS,
    DISFASequence as DISFASequence,
    list_disfa_subjects as list_disfa_subjects,
    read_disfa_frames as read_disfa_frames,
    read_disfa_landmarks as read_disfa_landmarks,
    read_disfa_sequence as read_disfa_sequence,
    write_disfa_frames as write_disfa_frames,
    write_disfa_sequence as write_disfa_sequence,
)
from ._dlib_xml import AnnotatedFace as AnnotatedFace, read_dlib_landmarks as read_dlib_landmarks
from ._facewarehouse import (
    FACEWAREHOUSE_SHAPES as FACEWAREHOUSE_SHAPES,
    FaceWarehouseData as FaceWarehouseData,
    facewarehouse_subject_id as facewarehouse_subject_id,
    list_facewarehouse_subjects as list_facewarehouse_subjects,
    read_blendshapes as read_blendshapes,
    read_facewarehouse as read_facewarehouse,
    read_facewarehouse_faces as read_facewarehouse_faces,
    read_facewarehouse_poses as read_facewarehouse_poses,
    write_blendshapes as write_blendshapes,
    write_facewarehouse as write_facewarehouse,
    write_facewarehouse_poses as write_facewarehouse_poses,
)
from ._folds import (
    AU_UNION as AU_UNION,
    BP4D_AUS as BP4D_AUS,
    BP4D_INTENSITY_AUS as BP4D_INTENSITY_AUS,
    BP4D_PARTS as BP4D_PARTS,
    BP4D_SUBJECTS as BP4D_SUBJECTS,
    BP4D_TASKS as BP4D_TASKS,
    DATASETS as DATASETS,
    DISFA_AUS as DISFA_AUS,
    DISFA_DETECTION_AUS as DISFA_DETECTION_AUS,
    DISFA_PARTS as DISFA_PARTS,
    DISFA_SUBJECTS as DISFA_SUBJECTS,
    NOT_CODED as NOT_CODED,
    fold_of as fold_of,
    folds as folds,
)
from ._frames import (
    FrameTable as FrameTable,
    TableSource as TableSource,
    flatten_blocks as flatten_blocks,
    load_bp4d_table as load_bp4d_table,
    load_disfa_table as load_disfa_table,
    nominal_intrinsics as nominal_intrinsics,
    synthetic_intrinsics as synthetic_intrinsics,
    table_fingerprint as table_fingerprint,
)
from ._grain import (
    WindowSource as WindowSource,
    fold_split as fold_split,
    frame_loader as frame_loader,
    synchronous_reads as synchronous_reads,
    window_index as window_index,
    window_loader as window_loader,
)
from ._lm import (
    BOSPHORUS_LANDMARKS as BOSPHORUS_LANDMARKS,
    BOSPHORUS_TO_IBUG68 as BOSPHORUS_TO_IBUG68,
    Landmarks2D as Landmarks2D,
    Landmarks3D as Landmarks3D,
    read_lm2 as read_lm2,
    read_lm3 as read_lm3,
    write_lm2 as write_lm2,
    write_lm3 as write_lm3,
)
from ._mat73 import (
    MAT_FIRST_FRAME as MAT_FIRST_FRAME,
    N_BP4D_LANDMARKS as N_BP4D_LANDMARKS,
    read_features_mat as read_features_mat,
    write_features_mat as write_features_mat,
)
from ._paths import (
    DATASET_ENV as DATASET_ENV,
    cache_root as cache_root,
    given_copy as given_copy,
)
from ._tfds_bosphorus import (
    BOSPHORUS_SPLITS as BOSPHORUS_SPLITS,
    Bosphorus as Bosphorus,
    BosphorusConfig as BosphorusConfig,
    bosphorus_aus as bosphorus_aus,
    bosphorus_data_source as bosphorus_data_source,
    build_bosphorus_tfds as build_bosphorus_tfds,
)
from ._tfds_bp4d import (
    BP4D_SPLITS as BP4D_SPLITS,
    Bp4d as Bp4d,
    Bp4dConfig as Bp4dConfig,
    bp4d_data_source as bp4d_data_source,
    build_bp4d_tfds as build_bp4d_tfds,
)
from ._tfds_disfa import (
    DISFA_OCCURRENCE_THRESHOLD as DISFA_OCCURRENCE_THRESHOLD,
    DISFA_SPLITS as DISFA_SPLITS,
    Disfa as Disfa,
    DisfaConfig as DisfaConfig,
    build_disfa_tfds as build_disfa_tfds,
    disfa_data_source as disfa_data_source,
)
