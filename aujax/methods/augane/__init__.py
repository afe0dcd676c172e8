"""Seed 003: AU-aware 3D face reconstruction (AUGANE): AU detector features and a global encoder
feature as graph nodes -> graph attention -> transformer with a query token -> expression, pose and
camera, trained with AU-aware losses through a differentiable renderer.

* :mod:`~aujax.methods.augane._landmark_groups` — Table 1's AU -> landmark groups remapped to
  iBUG-68 (plus DISFA's AUs 17, 25, 26) and our 23 configural distances of eq. 6;
* :mod:`~aujax.methods.augane._losses` — eqs. 4-8, one function per equation;
* :mod:`~aujax.methods.augane._gane` — :class:`GANE` (eqs. 1-3 and the query-token heads);
* :mod:`~aujax.methods.augane._detector` — the AU detector (ME-GraphAU stand-in): ResNet feature
  map, AU-specific feature generator (one node per AU, eq. 1), per-AU head; class-weighted BCE
  training (:func:`train_au_detector`), probabilities and nodes (:func:`predict_aus`), per-AU F1
  (:func:`detector_f1`);
* :mod:`~aujax.methods.augane._encoder` — the DECA-like global encoder: ResNet global feature X
  (eq. 2) -> identity, expression, pose, camera, light, albedo (:class:`FaceParams`);
  :func:`decode` to vertices, 2D landmarks and a soft render; landmark + photometric +
  regulariser training through :func:`aujax.render.soft_render` (:func:`train_global_encoder`);
* :mod:`~aujax.methods.augane._data` — the synthetic DISFA-like frames with the morphable model,
  the 3D truth and crop-pixel landmarks (noisy: :func:`crop_space_landmarks`), split by an
  official fold (:func:`load_augane_data`, :class:`AuganeData`);
* :mod:`~aujax.methods.augane._training` — GANE's training against the frozen detector through
  the soft renderer (eqs. 4-8, :func:`train_gane`), the EMOCA-like baseline (the DECA-like
  encoder's expression fine-tuned with eq. 7 alone, :func:`train_emoca`), batch renders;
* :mod:`~aujax.methods.augane._experiment` — ``python -m experiments.disfa_augane``: the
  networks trained on a fold's training subjects, Tables 2-3 (F1 agreement of the detector on the
  input and on the render) and the errors against the synthetic truth
  (:func:`train_and_evaluate`);
* :mod:`~aujax.methods.augane._common` — the input checks and the training loop all share.

Decisions: ``docs/augane_method.md``.
"""

from ._data import (
    AuganeData as AuganeData,
    augane_split as augane_split,
    crop_space_landmarks as crop_space_landmarks,
    load_augane_data as load_augane_data,
)
from ._detector import (
    DETECTOR_HEADS as DETECTOR_HEADS,
    AUDetector as AUDetector,
    DetectorConfig as DetectorConfig,
    au_class_weights as au_class_weights,
    augment_images as augment_images,
    detector_f1 as detector_f1,
    detector_loss as detector_loss,
    predict_aus as predict_aus,
    presence_labels as presence_labels,
    train_au_detector as train_au_detector,
)
from ._encoder import (
    CROP_MARGIN as CROP_MARGIN,
    Decoded as Decoded,
    EncoderConfig as EncoderConfig,
    FaceParams as FaceParams,
    GlobalEncoder as GlobalEncoder,
    crop_landmarks as crop_landmarks,
    decode as decode,
    default_light as default_light,
    encode as encode,
    encoder_loss as encoder_loss,
    landmark_loss as landmark_loss,
    photometric_loss as photometric_loss,
    predict_params as predict_params,
    raw_to_params as raw_to_params,
    reference_camera as reference_camera,
    train_global_encoder as train_global_encoder,
)
from ._experiment import (
    EXPERIMENT as EXPERIMENT,
    METHODS as METHODS,
    PAPER_TABLE2 as PAPER_TABLE2,
    PAPER_TABLE3 as PAPER_TABLE3,
    Stages as Stages,
    agreement_f1 as agreement_f1,
    detector_config as detector_config,
    emoca_config as emoca_config,
    encoder_config as encoder_config,
    evaluation_rows as evaluation_rows,
    gane_config as gane_config,
    landmark_errors as landmark_errors,
    rest_landmarks as rest_landmarks,
    run_stages as run_stages,
    train_and_evaluate as train_and_evaluate,
)
from ._gane import GANE as GANE, GANEOutput as GANEOutput
from ._landmark_groups import (
    CONFIGURAL_DISTANCES as CONFIGURAL_DISTANCES,
    EXTRA_ROWS as EXTRA_ROWS,
    INTER_OCULAR as INTER_OCULAR,
    TABLE1 as TABLE1,
    ConfiguralDistance as ConfiguralDistance,
    LandmarkGroup as LandmarkGroup,
    au_group_matrix as au_group_matrix,
    au_landmark_groups as au_landmark_groups,
    configural_distances as configural_distances,
)
from ._losses import (
    LOSS_WEIGHTS as LOSS_WEIGHTS,
    REGULARIZER_WEIGHTS as REGULARIZER_WEIGHTS,
    au_feature_loss as au_feature_loss,
    au_landmark_loss as au_landmark_loss,
    au_relative_distance_loss as au_relative_distance_loss,
    parameter_regularizer as parameter_regularizer,
    project_landmarks as project_landmarks,
    total_loss as total_loss,
)
from ._training import (
    GANEConfig as GANEConfig,
    feature_consistency as feature_consistency,
    gane_loss as gane_loss,
    gane_params as gane_params,
    posed_landmarks as posed_landmarks,
    predict_emoca as predict_emoca,
    predict_gane as predict_gane,
    render_faces as render_faces,
    train_emoca as train_emoca,
    train_gane as train_gane,
)


__all__ = [
    "AuganeData",
    "augane_split",
    "crop_space_landmarks",
    "load_augane_data",
    "DETECTOR_HEADS",
    "AUDetector",
    "DetectorConfig",
    "au_class_weights",
    "detector_f1",
    "detector_loss",
    "predict_aus",
    "augment_images",
    "presence_labels",
    "train_au_detector",
    "CROP_MARGIN",
    "Decoded",
    "EncoderConfig",
    "FaceParams",
    "GlobalEncoder",
    "crop_landmarks",
    "decode",
    "default_light",
    "encode",
    "encoder_loss",
    "landmark_loss",
    "photometric_loss",
    "predict_params",
    "raw_to_params",
    "reference_camera",
    "train_global_encoder",
    "EXPERIMENT",
    "METHODS",
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "Stages",
    "agreement_f1",
    "detector_config",
    "emoca_config",
    "encoder_config",
    "evaluation_rows",
    "gane_config",
    "landmark_errors",
    "rest_landmarks",
    "run_stages",
    "train_and_evaluate",
    "GANE",
    "GANEOutput",
    "CONFIGURAL_DISTANCES",
    "EXTRA_ROWS",
    "INTER_OCULAR",
    "TABLE1",
    "ConfiguralDistance",
    "LandmarkGroup",
    "au_group_matrix",
    "au_landmark_groups",
    "configural_distances",
    "LOSS_WEIGHTS",
    "REGULARIZER_WEIGHTS",
    "au_feature_loss",
    "au_landmark_loss",
    "au_relative_distance_loss",
    "parameter_regularizer",
    "project_landmarks",
    "total_loss",
    "GANEConfig",
    "feature_consistency",
    "gane_loss",
    "gane_params",
    "posed_landmarks",
    "predict_emoca",
    "predict_gane",
    "render_faces",
    "train_emoca",
    "train_gane",
]
