"""Seed 002: AU-conditioned 3D expression synthesis (``python -m experiments.disfa_synthesis``).

3DMM expression parameters (:class:`aujax.face.MorphableModel`, eqs. 1-2) are extracted from the
DISFA-like landmarks, then generated from AU intensity labels by a conditional GAN (eqs. 3-5) and a
conditional adversarial autoencoder (eqs. 6-10) with soft labels (eq. 11) and the range regulariser
L_R; judged by SVR / OSVR on the parameters and by an image judge on renders.
"""

from ._judges import (
    JUDGE_KINDS as JUDGE_KINDS,
    LEVELS as LEVELS,
    SVR_SOLVERS as SVR_SOLVERS,
    HogLayout as HogLayout,
    ImageJudge as ImageJudge,
    LinearJudge as LinearJudge,
    crop_features as crop_features,
    fit_image_judge as fit_image_judge,
    fit_parameter_judges as fit_parameter_judges,
    image_judge_predict as image_judge_predict,
    judge_metrics as judge_metrics,
    judge_predictions as judge_predictions,
    judge_training_rows as judge_training_rows,
)


__all__: list[str] = [
    "JUDGE_KINDS",
    "LEVELS",
    "SVR_SOLVERS",
    "HogLayout",
    "ImageJudge",
    "LinearJudge",
    "crop_features",
    "fit_image_judge",
    "fit_parameter_judges",
    "image_judge_predict",
    "judge_metrics",
    "judge_predictions",
    "judge_training_rows",
]
