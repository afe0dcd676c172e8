r"""The three methods of the seed 004 experiment as (features, camera) pairs for the cascade.

* **ours** (section 3): ``g = [alpha; beta]``; the camera is solved from the current shape and
  the detected landmarks (eq. 6, :func:`aujax.methods.sdm.fit_camera`); the features are HOG on
  patches at the projected landmarks plus the landmark displacements (eqs. 8-10);
* **HOG-only** (stands in for Zhu et al., FG 2015, ref. [6]): ``g = [alpha; beta; log s; r; t]``
  with the camera *regressed* (rotation vector ``r``, 2D translation ``t``), HOG features only;
* **landmark fitting only** (section 3.2, eqs. 6-7): the cascade's initialisation, no stage.

The features are :func:`aujax.methods.sdm.sdm_features` (eqs. 8-10) with the configured
:class:`aujax.methods.sdm.FeatureConfig` (HOG only for the baseline: ``use_ld=False``); this
module adds the camera of each method and the projection ``P_i(g, c)`` (eqs. 3-4).
"""

import functools
import hashlib
import json

import jax.numpy as jnp
import numpy as np

from ...geometry import SimilarityTransform, rotation_from_axis_angle
from ._data import FLIP
from ._features import FeatureConfig, sdm_features
from ._fitting import fit_camera, project_model


__all__ = ["Method", "make_method"]


class Method:
    """A cascade's ``features(g, camera, sample)`` and ``camera(g, sample)`` (hashable: jit-static).

    Attributes:
        name: ``"ours"`` or ``"hog"``.
        n_shape: parameters of the shape ``[alpha; beta]`` at the front of ``g``.
        features, camera: the callables (:func:`aujax.methods.sdm.train_cascade`).
    """

    def __init__(self, name, model, landmark_vertices, feature_cfg):
        self.name, self.model, self.lv = name, model, jnp.asarray(landmark_vertices)
        self.n_id, self.n_shape = model.n_id, model.n_id + model.n_exp
        self.feature_config = FeatureConfig(
            patch_size=int(feature_cfg.patch_size),
            patch_extent=None
            if feature_cfg.patch_extent is None
            else float(feature_cfg.patch_extent),
            orientations=int(feature_cfg.orientations),
            pixels_per_cell=tuple(int(x) for x in feature_cfg.pixels_per_cell),
            cells_per_block=tuple(int(x) for x in feature_cfg.cells_per_block),
            use_ld=name == "ours",
        )
        self.features = functools.partial(_features, self)
        self.camera = functools.partial(_camera, self)

    def shape(self, g):
        return g[: self.n_id], g[self.n_id : self.n_shape]

    def __hash__(self):
        return id(self)


def _camera(m: Method, g, sample):
    if m.name == "ours":  # eq. 6 from the current shape
        a, b = m.shape(g)
        return fit_camera(m.model, a, b, sample["landmarks"], m.lv)
    c = g[m.n_shape :]
    return SimilarityTransform(
        scale=jnp.exp(c[0]),
        rotation=jnp.asarray(FLIP, c.dtype) @ rotation_from_axis_angle(c[1:4]),
        translation=jnp.concatenate([c[4:6], jnp.zeros(1, c.dtype)]),
    )


def _features(m: Method, g, camera, sample):
    a, b = m.shape(g)
    p = project_model(m.model, a, b, camera, m.lv)  # (L, 2), P_i(g, c)
    size = sample["image"].shape[0]
    p = jnp.clip(jnp.nan_to_num(p), -size, 2 * size)  # a diverged estimate stays finite
    return sdm_features(sample["image"], p, sample["landmarks"], config=m.feature_config)


_METHODS: dict = {}


def make_method(name: str, model, landmark_vertices, feature_cfg) -> Method:
    """The ``"ours"`` or ``"hog"`` method (module docstring).

    The same model, landmarks and feature settings give the same :class:`Method` object (its
    callables are jit-static arguments: a second run in one process reuses the compiled code).
    """
    if name not in ("ours", "hog"):
        raise ValueError(f"method must be 'ours' or 'hog', got {name!r}.")
    digest = hashlib.sha1(np.asarray(model.core).tobytes())
    digest.update(np.asarray(landmark_vertices).tobytes())
    key = (name, digest.hexdigest(), json.dumps(dict(feature_cfg), sort_keys=True, default=list))
    if key not in _METHODS:
        if len(_METHODS) > 8:
            _METHODS.clear()
        _METHODS[key] = Method(name, model, landmark_vertices, feature_cfg)
    return _METHODS[key]
