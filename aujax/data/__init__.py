"""Data: the real dataset layouts (BP4D, DISFA, Bosphorus), their readers and writers, the official
subject folds and the synthetic FACS generator (DESIGN §6, REFERENCE §1-2).

The readers parse the real on-disk layouts unchanged; the synthetic generator writes the same
layouts, so one path serves both. Malformed input raises a ``ValueError`` naming the file (and the
line or field). Host-side NumPy code: nothing here needs jax.
"""

from ._activation import (
    ActivationDynamics as ActivationDynamics,
    muscle_activations as muscle_activations,
    muscle_excitation as muscle_excitation,
)
from ._bosphorus import (
    BOSPHORUS_CLASSES as BOSPHORUS_CLASSES,
    BOSPHORUS_LANDMARKS as BOSPHORUS_LANDMARKS,
    BOSPHORUS_TO_IBUG68 as BOSPHORUS_TO_IBUG68,
    DEFAULT_ZMIN as DEFAULT_ZMIN,
    BosphorusName as BosphorusName,
    BosphorusSample as BosphorusSample,
    Landmarks2D as Landmarks2D,
    Landmarks3D as Landmarks3D,
    RangeScan as RangeScan,
    bosphorus_name as bosphorus_name,
    list_bosphorus_samples as list_bosphorus_samples,
    parse_bosphorus_name as parse_bosphorus_name,
    range_scan_from_depth as range_scan_from_depth,
    read_bnt as read_bnt,
    read_bosphorus_image as read_bosphorus_image,
    read_bosphorus_sample as read_bosphorus_sample,
    read_lm2 as read_lm2,
    read_lm3 as read_lm3,
    write_bnt as write_bnt,
    write_bosphorus_image as write_bosphorus_image,
    write_bosphorus_sample as write_bosphorus_sample,
    write_lm2 as write_lm2,
    write_lm3 as write_lm3,
)
from ._bp4d import (
    BP4D_INTENSITY_DIRS as BP4D_INTENSITY_DIRS,
    BP4D_OCC_MAX_AU as BP4D_OCC_MAX_AU,
    MAT_FIRST_FRAME as MAT_FIRST_FRAME,
    N_BP4D_LANDMARKS as N_BP4D_LANDMARKS,
    BP4DSequence as BP4DSequence,
    list_bp4d_sequences as list_bp4d_sequences,
    read_bp4d_frames as read_bp4d_frames,
    read_bp4d_sequence as read_bp4d_sequence,
    write_bp4d_frames as write_bp4d_frames,
    write_bp4d_sequence as write_bp4d_sequence,
)
from ._cache import (
    DATASET_ENV as DATASET_ENV,
    cache_root as cache_root,
    dataset_root as dataset_root,
)
from ._disfa import (
    N_DISFA_LANDMARKS as N_DISFA_LANDMARKS,
    DISFASequence as DISFASequence,
    list_disfa_subjects as list_disfa_subjects,
    read_disfa_frames as read_disfa_frames,
    read_disfa_sequence as read_disfa_sequence,
    write_disfa_frames as write_disfa_frames,
    write_disfa_sequence as write_disfa_sequence,
)
from ._episodes import (
    BOSPHORUS_CONTEXTS as BOSPHORUS_CONTEXTS,
    BOSPHORUS_SUBJECTS as BOSPHORUS_SUBJECTS,
    BP4D_BASE_RATES as BP4D_BASE_RATES,
    BP4D_CONTEXTS as BP4D_CONTEXTS,
    DISFA_BASE_RATES as DISFA_BASE_RATES,
    DISFA_CONTEXTS as DISFA_CONTEXTS,
    PRESETS as PRESETS,
    Capture as Capture,
    Coding as Coding,
    Context as Context,
    Episode as Episode,
    Labels as Labels,
    Preset as Preset,
    SequenceAUs as SequenceAUs,
    SubjectStyle as SubjectStyle,
    au_trajectory as au_trajectory,
    base_rates as base_rates,
    code_labels as code_labels,
    episode_envelope as episode_envelope,
    generate_sequence as generate_sequence,
    get_preset as get_preset,
    neutral_style as neutral_style,
    runs_mask as runs_mask,
    sample_episodes as sample_episodes,
    sample_style as sample_style,
    stream_rng as stream_rng,
)
from ._folds import (
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
    fold_of as fold_of,
    folds as folds,
)
from ._pipeline import (
    WindowSource as WindowSource,
    crops_to_float as crops_to_float,
    fold_split as fold_split,
    frame_loader as frame_loader,
    window_index as window_index,
    window_loader as window_loader,
)
from ._rig import (
    SubjectRig as SubjectRig,
    build_subject_rig as build_subject_rig,
    rig_landmarks as rig_landmarks,
    simulate_expression as simulate_expression,
    simulate_expressions as simulate_expressions,
    simulate_long_expression as simulate_long_expression,
)
from ._synthetic import (
    DEFAULT_IMAGE_SIZE as DEFAULT_IMAGE_SIZE,
    DEFAULT_N_VERTICES as DEFAULT_N_VERTICES,
    CameraSetup as CameraSetup,
    generate_bp4d as generate_bp4d,
    head_pose_sequence as head_pose_sequence,
    project_landmarks as project_landmarks,
    sequence_crops as sequence_crops,
)
from ._synthetic_bosphorus import (
    BOSPHORUS_EMOTIONS as BOSPHORUS_EMOTIONS,
    bosphorus_sample_name as bosphorus_sample_name,
    generate_bosphorus as generate_bosphorus,
)
from ._synthetic_disfa import (
    DISFA_CAMERA as DISFA_CAMERA,
    SubjectPhysique as SubjectPhysique,
    generate_disfa as generate_disfa,
    simulate_subject_sequence as simulate_subject_sequence,
    subject_physique as subject_physique,
    template_model as template_model,
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
