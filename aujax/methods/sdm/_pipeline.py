r"""The three methods of the seed 004 experiment as (features, camera) pairs for the cascade.

* **ours** (section 3): ``g = [alpha; beta]``; the camera is solved from the current shape and
  the detected landmarks (eq. 6, :func:`aujax.methods.sdm.fit_camera`); the features are HOG on
  patches at the projected landmarks plus the landmark displacements (eqs. 8-10);
* **HOG-only** (stands in for Zhu et al., FG 2015, ref. [6]): ``g = [alpha; beta; log s; r; t]``
  with the camera *regressed* (rotation vector ``r``, 2D translation ``t``), HOG features only;
* **landmark fitting only** (section 3.2, eqs. 6-7): the cascade's initialisation, no stage.

Thin adapter (the features module of issue 18, eqs. 8-10, was not on main when this was
written): it composes :func:`aujax.render.extract_patches`, :func:`aujax.render.hog` and
:func:`aujax.methods.sdm.project_model`.

.. math::
    F = \begin{bmatrix} h_1 & \dots & h_L \\ u_1 & \dots & u_L \end{bmatrix},\qquad
    u_i = (l_i - P_i(g, c)) / s \quad\text{(eqs. 8-10; } s \text{ the camera scale)}

**Where the paper is silent.** The landmark displacements are divided by the camera's scale
(pixels per model unit), so they are in model units and do not depend on the face's size in the
image. HOG: ``features.patch`` px patches (the paper: 64 px on full-resolution Bosphorus photos,
where a face spans ~500 px; our faces span ~100 px of a 128 px image), cells, blocks and
orientations from the config, ``L2-Hys`` block norm (skimage's default).
"""

import functools
import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np

from ...geometry import SimilarityTransform, rotation_from_axis_angle
from ...render import extract_patches, hog
from ._data import FLIP
from ._fitting import fit_camera, project_model


__all__ = ["Method", "hog_features", "make_method"]


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
        self.hog_kwargs = dict(
            orientations=int(feature_cfg.orientations),
            pixels_per_cell=tuple(int(x) for x in feature_cfg.pixels_per_cell),
            cells_per_block=tuple(int(x) for x in feature_cfg.cells_per_block),
        )
        self.patch = int(feature_cfg.patch)
        self.features = functools.partial(_features, self)
        self.camera = functools.partial(_camera, self)

    def shape(self, g):
        return g[: self.n_id], g[self.n_id : self.n_shape]

    def __hash__(self):
        return id(self)


def hog_features(image, points, *, patch: int, **hog_kwargs):
    """(L, F_h) HOG of ``patch`` px patches of ``image`` (H, W) centred at ``points`` (L, 2) (eq. 8)."""
    patches = extract_patches(image, points, size=patch, mode="edge")
    return jax.vmap(functools.partial(hog, **hog_kwargs))(patches)


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
    image = sample["image"]
    p_safe = jnp.clip(jnp.nan_to_num(p), -image.shape[0], 2 * image.shape[0])
    h = hog_features(image, p_safe, patch=m.patch, **m.hog_kwargs).reshape(-1)
    if m.name == "hog":
        return h
    u = (sample["landmarks"] - p) / camera.scale  # eq. 9, in model units
    return jnp.concatenate([h, u.reshape(-1).astype(h.dtype)])  # eq. 10


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
