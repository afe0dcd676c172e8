"""Seed 002: AU-conditioned 3D expression synthesis (``python -m experiments.disfa_synthesis``).

3DMM expression parameters (:class:`aujax.face.MorphableModel`, eqs. 1-2) are extracted from the
DISFA-like landmarks, then generated from AU intensity labels by a conditional GAN (eqs. 3-5) and a
conditional adversarial autoencoder (eqs. 6-10) with soft labels (eq. 11) and the range regulariser
L_R; judged by SVR / OSVR on the parameters and by an image judge on renders.

* :mod:`~aujax.methods.ausynth._networks` — G, D_exp, E, D_z in Flax NNX (fig. 4);
* :mod:`~aujax.methods.ausynth._losses` — eqs. 3-11, one function per equation;
* :mod:`~aujax.methods.ausynth._gan` — :func:`train_cgan`, :func:`train_caae`, :func:`generate`
  on :mod:`aujax.train`'s adversarial step and resumable loop;
* :mod:`~aujax.methods.ausynth._judges` — the SVR / OSVR parameter judges (Table 1), the image
  judge (HOG + linear SVR, Table 2) and their metrics;
* :mod:`~aujax.methods.ausynth._augment` — fig. 5: labels for synthesis from other subjects, the
  image AU-intensity regressor and the augmentation study (MAE, MSE, ICC per synthetic fraction).
"""

from ._augment import (
    AUGMENT_FRACTIONS as AUGMENT_FRACTIONS,
    PAPER_FIG5 as PAPER_FIG5,
    RegressorConfig as RegressorConfig,
    augmentation_labels as augmentation_labels,
    augmentation_study as augmentation_study,
    build_regressor as build_regressor,
    format_augmentation as format_augmentation,
    plot_augmentation as plot_augmentation,
    predict_au_intensities as predict_au_intensities,
    train_au_regressor as train_au_regressor,
)
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
from ._gan import (
    GANConfig as GANConfig,
    default_bounds as default_bounds,
    generate as generate,
    train_caae as train_caae,
    train_cgan as train_cgan,
)
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
from ._losses import (
    GENERATOR_FORMS as GENERATOR_FORMS,
    SOFT_LABELS as SOFT_LABELS,
    caae_objective as caae_objective,
    cgan_discriminator_loss as cgan_discriminator_loss,
    cgan_generator_loss as cgan_generator_loss,
    cgan_objective as cgan_objective,
    conditional_discriminator_loss as conditional_discriminator_loss,
    conditional_generator_loss as conditional_generator_loss,
    prior_discriminator_loss as prior_discriminator_loss,
    prior_encoder_loss as prior_encoder_loss,
    range_loss as range_loss,
    reconstruction_loss as reconstruction_loss,
    scale_labels as scale_labels,
    soft_labels as soft_labels,
    unscale_labels as unscale_labels,
)
from ._networks import (
    PRIORS as PRIORS,
    Discriminator as Discriminator,
    Encoder as Encoder,
    Generator as Generator,
    NetworkConfig as NetworkConfig,
    PriorDiscriminator as PriorDiscriminator,
    caae_networks as caae_networks,
    cgan_networks as cgan_networks,
    sample_prior as sample_prior,
)


__all__ = [
    "AUGMENT_FRACTIONS",
    "PAPER_FIG5",
    "RegressorConfig",
    "augmentation_labels",
    "augmentation_study",
    "build_regressor",
    "format_augmentation",
    "plot_augmentation",
    "predict_au_intensities",
    "train_au_regressor",
    "DEFAULT_LAMBDA_EXP",
    "DEFAULT_LAMBDA_ID",
    "DEFAULT_N_NEUTRAL",
    "GENERATOR_FORMS",
    "JUDGE_KINDS",
    "LEVELS",
    "MIN_LANDMARKS",
    "PRIORS",
    "SOFT_LABELS",
    "SVR_SOLVERS",
    "Discriminator",
    "Encoder",
    "GANConfig",
    "Generator",
    "HogLayout",
    "ImageJudge",
    "LinearJudge",
    "NetworkConfig",
    "ParameterBounds",
    "PriorDiscriminator",
    "SubjectParameters",
    "caae_networks",
    "caae_objective",
    "cgan_discriminator_loss",
    "cgan_generator_loss",
    "cgan_networks",
    "cgan_objective",
    "conditional_discriminator_loss",
    "conditional_generator_loss",
    "crop_features",
    "default_bounds",
    "extract_parameters",
    "extract_subject",
    "fit_expressions",
    "fit_identity",
    "fit_image_judge",
    "fit_parameter_judges",
    "generate",
    "image_judge_predict",
    "judge_metrics",
    "judge_predictions",
    "judge_training_rows",
    "labels_to_unit",
    "prior_discriminator_loss",
    "prior_encoder_loss",
    "range_loss",
    "reconstruction_loss",
    "sample_prior",
    "scale_labels",
    "select_neutral_frames",
    "soft_labels",
    "train_caae",
    "train_cgan",
    "unit_to_labels",
    "unscale_labels",
]
