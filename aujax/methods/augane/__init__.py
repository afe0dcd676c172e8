"""Seed 003: AU-aware 3D face reconstruction (AUGANE), foundation parts.

* :mod:`~aujax.methods.augane._detector` — the AU detector (ME-GraphAU stand-in): ResNet feature
  map, AU-specific feature generator (one node per AU, eq. 1), per-AU head; class-weighted BCE
  training (:func:`train_au_detector`), probabilities and nodes (:func:`predict_aus`), per-AU F1
  (:func:`detector_f1`);
* :mod:`~aujax.methods.augane._encoder` — the DECA-like global encoder: ResNet global feature X
  (eq. 2) -> identity, expression, pose, camera, light, albedo (:class:`FaceParams`);
  :func:`decode` to vertices, 2D landmarks and a soft render; landmark + photometric +
  regulariser training through :func:`aujax.render.soft_render` (:func:`train_global_encoder`);
* :mod:`~aujax.methods.augane._common` — the input checks both share.

Decisions: ``docs/augane_method.md``.
"""

from ._detector import (
    DETECTOR_HEADS as DETECTOR_HEADS,
    AUDetector as AUDetector,
    DetectorConfig as DetectorConfig,
    au_class_weights as au_class_weights,
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
    encoder_loss as encoder_loss,
    landmark_loss as landmark_loss,
    photometric_loss as photometric_loss,
    predict_params as predict_params,
    raw_to_params as raw_to_params,
    reference_camera as reference_camera,
    train_global_encoder as train_global_encoder,
)


__all__ = [
    "DETECTOR_HEADS",
    "AUDetector",
    "DetectorConfig",
    "au_class_weights",
    "detector_f1",
    "detector_loss",
    "predict_aus",
    "presence_labels",
    "train_au_detector",
    "CROP_MARGIN",
    "Decoded",
    "crop_landmarks",
    "EncoderConfig",
    "FaceParams",
    "GlobalEncoder",
    "decode",
    "default_light",
    "encoder_loss",
    "landmark_loss",
    "photometric_loss",
    "predict_params",
    "raw_to_params",
    "reference_camera",
    "train_global_encoder",
]
