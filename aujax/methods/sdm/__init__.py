"""Seed 004: a 3D face from one image by cascaded regression (``python -m experiments.bosphorus_sdm``).

A bilinear identity x expression model (:class:`aujax.face.BilinearModel`, eqs. 2-3) is fitted to
the detected 2D landmarks (eqs. 6-7), then refined by a cascade of ridge regressors on HOG +
landmark-displacement features (eqs. 8-13, Algorithm 1). Evaluated by depth RMSE (eq. 14) and mean
vertex distance (eq. 15) in :mod:`aujax.train`.

The training targets on real scans (section 4.1: ``g*`` and the mesh ``M``) come from
:func:`fit_scan`.
"""

from ._cascade import (
    Cascade as Cascade,
    CascadeFit as CascadeFit,
    apply_cascade as apply_cascade,
    apply_cascade_batch as apply_cascade_batch,
    select_alphas as select_alphas,
    train_cascade as train_cascade,
)
from ._features import (
    FeatureConfig as FeatureConfig,
    feature_size as feature_size,
    reference_length as reference_length,
    sdm_features as sdm_features,
)
from ._fitting import (
    DEFAULT_LAMBDA_EXP as DEFAULT_LAMBDA_EXP,
    DEFAULT_LAMBDA_ID as DEFAULT_LAMBDA_ID,
    FitResult as FitResult,
    fit_camera as fit_camera,
    fit_landmarks as fit_landmarks,
    landmark_objective as landmark_objective,
    project_model as project_model,
)
from ._ridge import (
    SOLVERS as SOLVERS,
    AlphaChoice as AlphaChoice,
    RidgeRegressor as RidgeRegressor,
    choose_alpha as choose_alpha,
    fit_ridge as fit_ridge,
)
from ._scan_fit import (
    ScanFit as ScanFit,
    fit_scan as fit_scan,
    uniform_laplacian as uniform_laplacian,
)


__all__: list[str] = [
    "SOLVERS",
    "AlphaChoice",
    "Cascade",
    "CascadeFit",
    "RidgeRegressor",
    "apply_cascade",
    "apply_cascade_batch",
    "choose_alpha",
    "fit_ridge",
    "select_alphas",
    "train_cascade",
    "DEFAULT_LAMBDA_EXP",
    "DEFAULT_LAMBDA_ID",
    "FitResult",
    "ScanFit",
    "fit_camera",
    "fit_landmarks",
    "fit_scan",
    "landmark_objective",
    "project_model",
    "uniform_laplacian",
    "FeatureConfig",
    "feature_size",
    "reference_length",
    "sdm_features",
]
