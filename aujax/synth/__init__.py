"""The synthetic world (DESIGN §6.1): AU intensity trajectories from expression episodes, AU
intensities -> muscle activations, per-subject rigs that run the full spring-mass skin, and the
generators that render and write BP4D-, DISFA- and Bosphorus-like datasets in the real layouts
(:mod:`aujax.datasets` reads them back); the synthetic default an experiment uses when no copy is
given (:func:`dataset_root`).
"""

from ._activation import (
    ActivationDynamics as ActivationDynamics,
    muscle_activations as muscle_activations,
    muscle_excitation as muscle_excitation,
)
from ._bosphorus import (
    BOSPHORUS_EMOTIONS as BOSPHORUS_EMOTIONS,
    bosphorus_sample_name as bosphorus_sample_name,
    generate_bosphorus as generate_bosphorus,
)
from ._bp4d import (
    DEFAULT_IMAGE_SIZE as DEFAULT_IMAGE_SIZE,
    DEFAULT_N_VERTICES as DEFAULT_N_VERTICES,
    CameraSetup as CameraSetup,
    generate_bp4d as generate_bp4d,
    head_pose_sequence as head_pose_sequence,
    project_landmarks as project_landmarks,
    sequence_crops as sequence_crops,
)
from ._default import (
    dataset_root as dataset_root,
)
from ._disfa import (
    DISFA_CAMERA as DISFA_CAMERA,
    SubjectPhysique as SubjectPhysique,
    generate_disfa as generate_disfa,
    simulate_subject_sequence as simulate_subject_sequence,
    subject_physique as subject_physique,
    template_model as template_model,
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
from ._rig import (
    SubjectRig as SubjectRig,
    build_subject_rig as build_subject_rig,
    rig_landmarks as rig_landmarks,
    simulate_expression as simulate_expression,
    simulate_expressions as simulate_expressions,
    simulate_long_expression as simulate_long_expression,
)
