"""The synthetic world (DESIGN §6.1): AU intensity trajectories from expression episodes, AU
intensities -> muscle activations, per-subject rigs that run the full spring-mass skin, and the
generators that render and write BP4D-, DISFA- and Bosphorus-like datasets in the real layouts
(:mod:`aujax.datasets` reads them back); the synthetic default an experiment uses when no copy is
given (:func:`dataset_root`).

Modules: ``_streams`` (random streams), ``_episodes`` (contexts, episodes, AU trajectories),
``_coding`` (coders' labels), ``_contexts`` (the datasets' contexts and base rates), ``_presets``,
``_sequence`` (a preset's sequence), ``_activation``, ``_realism`` (asymmetric and unilateral
actions, subject synergies, co-contraction, realistic activation dynamics), ``_rig``, ``_subject``
(a subject's body and simulated sequences), ``_capture`` (the video camera), ``_crops``, ``_video`` (filming a
subject's sequences), ``_pipeline`` (physics -> render -> write, shared by the generators),
``_bp4d``, ``_disfa``, ``_bosphorus`` (the generators; ``_bosphorus_sdm`` the Bosphorus-like
preset of seed 004), ``_facewarehouse`` (identities x expressions as static equilibria, in
FaceWarehouse's layout), ``_morphable`` (the FaceWarehouse-like morphable model on the DISFA-like
set's vertex layout, shared by seeds 002 and 003) and ``_default``.
"""

from ..datasets import BP4D_AUS as BP4D_AUS, DISFA_AUS as DISFA_AUS
from ._activation import (
    ActivationDynamics as ActivationDynamics,
    activation_dynamics as activation_dynamics,
    muscle_activations as muscle_activations,
    muscle_excitation as muscle_excitation,
)
from ._bosphorus import (
    BOSPHORUS_EMOTIONS as BOSPHORUS_EMOTIONS,
    bosphorus_sample_name as bosphorus_sample_name,
    generate_bosphorus as generate_bosphorus,
)
from ._bosphorus_sdm import (
    SDM_DETECTOR as SDM_DETECTOR,
    LandmarkDetector as LandmarkDetector,
    SdmShot as SdmShot,
    generate_bosphorus_sdm as generate_bosphorus_sdm,
    landmark_visibility as landmark_visibility,
    occluder_mesh as occluder_mesh,
    sdm_plan as sdm_plan,
    sdm_sample_classes as sdm_sample_classes,
)
from ._bp4d import generate_bp4d as generate_bp4d
from ._capture import (
    CameraSetup as CameraSetup,
    head_pose_sequence as head_pose_sequence,
    project_landmarks as project_landmarks,
)
from ._coding import (
    Coding as Coding,
    Labels as Labels,
    code_labels as code_labels,
    runs_mask as runs_mask,
)
from ._contexts import (
    BOSPHORUS_CONTEXTS as BOSPHORUS_CONTEXTS,
    BOSPHORUS_SDM_CONTEXTS as BOSPHORUS_SDM_CONTEXTS,
    BP4D_BASE_RATES as BP4D_BASE_RATES,
    BP4D_CONTEXTS as BP4D_CONTEXTS,
    DISFA_BASE_RATES as DISFA_BASE_RATES,
    DISFA_CONTEXTS as DISFA_CONTEXTS,
    base_rates as base_rates,
)
from ._crops import (
    DEFAULT_IMAGE_SIZE as DEFAULT_IMAGE_SIZE,
    sequence_crops as sequence_crops,
)
from ._default import (
    TEMPLATE_TAG as TEMPLATE_TAG,
    dataset_root as dataset_root,
)
from ._disfa import (
    DISFA_CAMERA as DISFA_CAMERA,
    generate_disfa as generate_disfa,
)
from ._episodes import (
    Context as Context,
    Episode as Episode,
    SubjectStyle as SubjectStyle,
    au_trajectory as au_trajectory,
    episode_envelope as episode_envelope,
    neutral_style as neutral_style,
    sample_episodes as sample_episodes,
)
from ._facewarehouse import (
    FACEWAREHOUSE_EXPRESSION_AUS as FACEWAREHOUSE_EXPRESSION_AUS,
    FACEWAREHOUSE_EXPRESSIONS as FACEWAREHOUSE_EXPRESSIONS,
    FACEWAREHOUSE_INTENSITY as FACEWAREHOUSE_INTENSITY,
    FACEWAREHOUSE_POSE_AUS as FACEWAREHOUSE_POSE_AUS,
    FACEWAREHOUSE_POSES as FACEWAREHOUSE_POSES,
    FACEWAREHOUSE_SUBJECTS as FACEWAREHOUSE_SUBJECTS,
    StaticSolution as StaticSolution,
    central_face_vertices as central_face_vertices,
    facewarehouse_activations as facewarehouse_activations,
    facewarehouse_landmark_embedding as facewarehouse_landmark_embedding,
    facewarehouse_landmark_vertices as facewarehouse_landmark_vertices,
    generate_facewarehouse as generate_facewarehouse,
    static_equilibria as static_equilibria,
)
from ._morphable import (
    facewarehouse_model as facewarehouse_model,
    subject_rest_mesh as subject_rest_mesh,
    template_face as template_face,
)
from ._presets import (
    BOSPHORUS_SUBJECTS as BOSPHORUS_SUBJECTS,
    PRESETS as PRESETS,
    Capture as Capture,
    Preset as Preset,
    get_preset as get_preset,
)
from ._realism import (
    REALISTIC_DYNAMICS as REALISTIC_DYNAMICS,
    MuscleRealism as MuscleRealism,
    cocontraction_matrix as cocontraction_matrix,
    event_side_scales as event_side_scales,
    realistic_excitation as realistic_excitation,
    subject_synergy as subject_synergy,
)
from ._rig import (
    SubjectRig as SubjectRig,
    build_subject_rig as build_subject_rig,
    rig_landmarks as rig_landmarks,
    simulate_expression as simulate_expression,
    simulate_expressions as simulate_expressions,
    simulate_long_expression as simulate_long_expression,
)
from ._sequence import (
    SequenceAUs as SequenceAUs,
    generate_sequence as generate_sequence,
    sample_style as sample_style,
)
from ._streams import stream_rng as stream_rng
from ._subject import (
    DEFAULT_N_VERTICES as DEFAULT_N_VERTICES,
    Cast as Cast,
    Drive as Drive,
    SubjectPhysique as SubjectPhysique,
    simulate_subject_sequence as simulate_subject_sequence,
    subject_physique as subject_physique,
    template_model as template_model,
)
