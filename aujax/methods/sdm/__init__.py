"""Seed 004: a 3D face from one image by cascaded regression (``python -m experiments.bosphorus_sdm``).

A bilinear identity x expression model (:class:`aujax.face.BilinearModel`, eqs. 2-3) is fitted to
the detected 2D landmarks (eqs. 6-7), then refined by a cascade of ridge regressors on HOG +
landmark-displacement features (eqs. 8-13, Algorithm 1). Evaluated by depth RMSE (eq. 14) and mean
vertex distance (eq. 15) in :mod:`aujax.train`.
"""

from ._cascade import (
    Cascade as Cascade,
    CascadeFit as CascadeFit,
    apply_cascade as apply_cascade,
    apply_cascade_batch as apply_cascade_batch,
    select_alphas as select_alphas,
    train_cascade as train_cascade,
)
from ._ridge import (
    SOLVERS as SOLVERS,
    AlphaChoice as AlphaChoice,
    RidgeRegressor as RidgeRegressor,
    choose_alpha as choose_alpha,
    fit_ridge as fit_ridge,
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
]
