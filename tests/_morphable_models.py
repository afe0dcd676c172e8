"""A small morphable model for the seed 002 tests (extraction, the experiment)."""

import numpy as np

from aujax.face import MorphableModel, identity_basis, make_face


def small_morphable_model(*, albedo_range=(0.0, 1.0)) -> MorphableModel:
    """A model on the 400-vertex template: 8 subjects (identity: the template's identity modes),
    8 expressions each from 6 smooth displacement fields (so n_id = 7, n_exp = 6), 3 albedo
    samples ~ U(albedo_range)."""
    face = make_face(400, seed=0)
    rng = np.random.default_rng(0)
    basis = np.asarray(identity_basis(face), np.float64)
    neutral = np.asarray(face.vertices, np.float64)[None] + np.einsum(
        "sj,jnd->snd", rng.normal(size=(8, basis.shape[0])), basis
    )
    xy = np.asarray(face.param_xy, np.float64)
    centres = rng.uniform([-5.0, -8.0], [5.0, 4.0], size=(6, 2))
    bumps = np.exp(-np.sum((xy[None] - centres[:, None]) ** 2, axis=2) / 8.0)  # (6, n)
    fields = bumps[..., None] * rng.normal(scale=0.6, size=(6, 1, 3))
    offsets = np.einsum("sef,fnd->send", rng.normal(size=(8, 8, 6)), fields)
    data = np.concatenate([neutral[:, None], neutral[:, None] + offsets], axis=1)
    albedo = rng.uniform(*albedo_range, size=(3, face.n_vertices, 3))
    return MorphableModel.from_facewarehouse(data, template=face, albedo=albedo)
