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
* :mod:`~aujax.methods.ausynth._data` — the DISFA-like frames, the FaceWarehouse-like model at the
  same vertex layout, the split and the cached parameter extraction;
* :mod:`~aujax.methods.ausynth._render` — renders of parameters in the DISFA-like crops' framing;
* :mod:`~aujax.methods.ausynth._experiment` — :func:`train_and_evaluate` (Tables 1 and 2).
"""

from ._data import (
    Extracted as Extracted,
    SynthesisData as SynthesisData,
    check_vertex_layout as check_vertex_layout,
    extract_all as extract_all,
    load_model as load_model,
    load_synthesis_data as load_synthesis_data,
    split_subjects as split_subjects,
    subject_rest_mesh as subject_rest_mesh,
)
from ._experiment import (
    EXPERIMENT as EXPERIMENT,
    GENERATORS as GENERATORS,
    PAPER_TABLE1 as PAPER_TABLE1,
    PAPER_TABLE2 as PAPER_TABLE2,
    Stages as Stages,
    generator_fn as generator_fn,
    run_stages as run_stages,
    train_and_evaluate as train_and_evaluate,
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
from ._render import (
    expression_meshes as expression_meshes,
    head_rotations as head_rotations,
    render_parameters as render_parameters,
)


__all__ = [
    "DEFAULT_LAMBDA_EXP",
    "DEFAULT_LAMBDA_ID",
    "DEFAULT_N_NEUTRAL",
    "EXPERIMENT",
    "GENERATORS",
    "GENERATOR_FORMS",
    "JUDGE_KINDS",
    "LEVELS",
    "MIN_LANDMARKS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PRIORS",
    "SOFT_LABELS",
    "SVR_SOLVERS",
    "Discriminator",
    "Encoder",
    "Extracted",
    "GANConfig",
    "Generator",
    "HogLayout",
    "ImageJudge",
    "LinearJudge",
    "NetworkConfig",
    "ParameterBounds",
    "PriorDiscriminator",
    "Stages",
    "SubjectParameters",
    "SynthesisData",
    "caae_networks",
    "caae_objective",
    "cgan_discriminator_loss",
    "cgan_generator_loss",
    "cgan_networks",
    "cgan_objective",
    "check_vertex_layout",
    "conditional_discriminator_loss",
    "conditional_generator_loss",
    "crop_features",
    "default_bounds",
    "expression_meshes",
    "extract_all",
    "extract_parameters",
    "extract_subject",
    "fit_expressions",
    "fit_identity",
    "fit_image_judge",
    "fit_parameter_judges",
    "generate",
    "generator_fn",
    "head_rotations",
    "image_judge_predict",
    "judge_metrics",
    "judge_predictions",
    "judge_training_rows",
    "labels_to_unit",
    "load_model",
    "load_synthesis_data",
    "prior_discriminator_loss",
    "prior_encoder_loss",
    "range_loss",
    "reconstruction_loss",
    "render_parameters",
    "run_stages",
    "sample_prior",
    "scale_labels",
    "select_neutral_frames",
    "soft_labels",
    "split_subjects",
    "subject_rest_mesh",
    "train_and_evaluate",
    "train_caae",
    "train_cgan",
    "unit_to_labels",
    "unscale_labels",
]
