"""Biomechanics-guided AU detection (seed 001): template physics, the physics branch, its losses."""

from ._activity import (
    LabelFreeDetection as LabelFreeDetection,
    invert_table as invert_table,
    label_free_detection as label_free_detection,
    sequence_ids as sequence_ids,
    synergy_columns as synergy_columns,
    true_values as true_values,
)
from ._calibration import (
    CoefficientCalibration as CoefficientCalibration,
    SubjectCalibration as SubjectCalibration,
    choose_baseline_quantile as choose_baseline_quantile,
    fit_coefficient_calibration as fit_coefficient_calibration,
    fit_subject_calibration as fit_subject_calibration,
    smoothed_coefficients as smoothed_coefficients,
)
from ._experiment import (
    CLAIMS as CLAIMS,
    EXPERIMENT as EXPERIMENT,
    LABEL_FREE_ROWS as LABEL_FREE_ROWS,
    ROWS as ROWS,
    claims as claims,
    row_spec as row_spec,
    train_and_evaluate as train_and_evaluate,
)
from ._figures import (
    choose_window as choose_window,
    figure4 as figure4,
    figure5 as figure5,
    synergy_fields as synergy_fields,
)
from ._losses import (
    LossWeights as LossWeights,
    au_loss as au_loss,
    clean_loss as clean_loss,
    physics_loss as physics_loss,
    reconstruction_loss as reconstruction_loss,
    smooth_loss as smooth_loss,
)
from ._network import (
    FEATURES as FEATURES,
    FORCE_MODES as FORCE_MODES,
    INITIAL_VELOCITIES as INITIAL_VELOCITIES,
    PhysicsAUNet as PhysicsAUNet,
    initial_velocity as initial_velocity,
)
from ._template import (
    PhysicsTemplate as PhysicsTemplate,
    build_physics_template as build_physics_template,
)
from ._train import (
    PhysicsSpec as PhysicsSpec,
    image_loss_fn as image_loss_fn,
    physics_loss_fn as physics_loss_fn,
    predict_image as predict_image,
    predict_physics as predict_physics,
    train_image as train_image,
    train_physics as train_physics,
)
