"""Blendshape-augmented AU detection (seed 000): the top-down engine (§2.1, eqs. 1-4), the
bottom-up CNN (eq. 5), the integration model (eq. 6), level thresholds, apex frames and the
experiment (``train_and_evaluate``), and video tracking with the reduced-dynamics smoother."""

from ...datasets import flatten_blocks as flatten_blocks
from ...train import LevelThresholds as LevelThresholds, choose_thresholds as choose_thresholds
from ._apex import apex_rows as apex_rows, synthetic_intensities as synthetic_intensities
from ._bottomup import BottomUpCNN as BottomUpCNN
from ._coefficients import (
    prepared_table as prepared_table,
    reconstruct_coefficients as reconstruct_coefficients,
    smooth_table as smooth_table,
    table_smoother as table_smoother,
    template_blendshapes as template_blendshapes,
    template_dynamics as template_dynamics,
)
from ._engine import (
    SubjectNeutral as SubjectNeutral,
    TopDownEngine as TopDownEngine,
    TopDownResult as TopDownResult,
)
from ._experiment import (
    EXPERIMENT as EXPERIMENT,
    PROTOCOLS as PROTOCOLS,
    ROWS as ROWS,
    load_frames as load_frames,
    top_down_levels as top_down_levels,
    train_and_evaluate as train_and_evaluate,
)
from ._integration import IntegrationNet as IntegrationNet
from ._tracking import (
    TrackedSequence as TrackedSequence,
    estimate_neutral as estimate_neutral,
    fit_frames as fit_frames,
    track_sequence as track_sequence,
)
from ._train import (
    build_bottomup as build_bottomup,
    build_integration as build_integration,
    predict_bottomup as predict_bottomup,
    predict_integration as predict_integration,
    train_bottomup as train_bottomup,
    train_integration as train_integration,
)
