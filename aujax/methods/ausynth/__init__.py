"""Seed 002: AU-conditioned 3D expression synthesis (``python -m experiments.disfa_synthesis``).

3DMM expression parameters (:class:`aujax.face.MorphableModel`, eqs. 1-2) are extracted from the
DISFA-like landmarks, then generated from AU intensity labels by a conditional GAN (eqs. 3-5) and a
conditional adversarial autoencoder (eqs. 6-10) with soft labels (eq. 11) and the range regulariser
L_R; judged by SVR / OSVR on the parameters and by an image judge on renders.
"""

from ._extract import (
    DEFAULT_LAMBDA_EXP as DEFAULT_LAMBDA_EXP,
    DEFAULT_LAMBDA_ID as DEFAULT_LAMBDA_ID,
    DEFAULT_N_NEUTRAL as DEFAULT_N_NEUTRAL,
    MIN_LANDMARKS as MIN_LANDMARKS,
    ParameterBounds as ParameterBounds,
    SubjectParameters as SubjectParameters,
    extract_parameters as extract_parameters,
    extract_subject as extract_subject,
    fit_expressions as fit_expressions,
    fit_identity as fit_identity,
    labels_to_unit as labels_to_unit,
    select_neutral_frames as select_neutral_frames,
    unit_to_labels as unit_to_labels,
)


__all__: list[str] = [
    "DEFAULT_LAMBDA_EXP",
    "DEFAULT_LAMBDA_ID",
    "DEFAULT_N_NEUTRAL",
    "MIN_LANDMARKS",
    "ParameterBounds",
    "SubjectParameters",
    "extract_parameters",
    "extract_subject",
    "fit_expressions",
    "fit_identity",
    "labels_to_unit",
    "select_neutral_frames",
    "unit_to_labels",
]
