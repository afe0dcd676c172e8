"""Seed 004: a 3D face from one image by cascaded regression (``python -m experiments.bosphorus_sdm``).

A bilinear identity x expression model (:class:`aujax.face.BilinearModel`, eqs. 2-3) is fitted to
the detected 2D landmarks (eqs. 6-7), then refined by a cascade of ridge regressors on HOG +
landmark-displacement features (eqs. 8-13, Algorithm 1). Evaluated by depth RMSE (eq. 14) and mean
vertex distance (eq. 15) in :mod:`aujax.train`.

The training targets on real scans (section 4.1: ``g*`` and the mesh ``M``) come from
:func:`fit_scan`; a photograph is reconstructed by :func:`fit_photo` (``tools.sdm_realfaces``).
"""

from ._cascade import (
    Cascade as Cascade,
    CascadeFit as CascadeFit,
    apply_cascade as apply_cascade,
    apply_cascade_batch as apply_cascade_batch,
    select_alphas as select_alphas,
    train_cascade as train_cascade,
)
from ._data import (
    SdmData as SdmData,
    SdmModel as SdmModel,
    fit_mesh as fit_mesh,
    load_sdm_data as load_sdm_data,
    load_sdm_model as load_sdm_model,
)
from ._experiment import (
    EXPERIMENT as EXPERIMENT,
    PAPER_TABLE1 as PAPER_TABLE1,
    TABLE1_ROWS as TABLE1_ROWS,
    cv_splits as cv_splits,
    load_cascade as load_cascade,
    save_cascade as save_cascade,
    train_and_evaluate as train_and_evaluate,
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
from ._photo import (
    TRAINING_RADIUS as TRAINING_RADIUS,
    PhotoCrop as PhotoCrop,
    PhotoFit as PhotoFit,
    fit_photo as fit_photo,
    photo_crop as photo_crop,
    reprojection_error as reprojection_error,
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
    "DEFAULT_LAMBDA_EXP",
    "DEFAULT_LAMBDA_ID",
    "EXPERIMENT",
    "PAPER_TABLE1",
    "SOLVERS",
    "TABLE1_ROWS",
    "TRAINING_RADIUS",
    "AlphaChoice",
    "Cascade",
    "CascadeFit",
    "FeatureConfig",
    "FitResult",
    "PhotoCrop",
    "PhotoFit",
    "RidgeRegressor",
    "ScanFit",
    "SdmData",
    "SdmModel",
    "apply_cascade",
    "apply_cascade_batch",
    "choose_alpha",
    "cv_splits",
    "feature_size",
    "fit_camera",
    "fit_landmarks",
    "fit_mesh",
    "fit_photo",
    "fit_ridge",
    "fit_scan",
    "landmark_objective",
    "load_cascade",
    "load_sdm_data",
    "load_sdm_model",
    "photo_crop",
    "project_model",
    "reference_length",
    "reprojection_error",
    "save_cascade",
    "sdm_features",
    "select_alphas",
    "train_and_evaluate",
    "train_cascade",
    "uniform_laplacian",
]
