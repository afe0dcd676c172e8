"""Seed 004: a 3D face from one image by cascaded regression (``python -m experiments.bosphorus_sdm``).

A bilinear identity x expression model (:class:`aujax.face.BilinearModel`, eqs. 2-3) is fitted to
the detected 2D landmarks (eqs. 6-7), then refined by a cascade of ridge regressors on HOG +
landmark-displacement features (eqs. 8-13, Algorithm 1). Evaluated by depth RMSE (eq. 14) and mean
vertex distance (eq. 15) in :mod:`aujax.train`.
"""

from ._features import (
    FeatureConfig as FeatureConfig,
    feature_size as feature_size,
    reference_length as reference_length,
    sdm_features as sdm_features,
)


__all__: list[str] = ["FeatureConfig", "feature_size", "reference_length", "sdm_features"]
