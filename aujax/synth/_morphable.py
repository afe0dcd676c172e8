"""The morphable model of the synthetic world, shared by the experiments that read the DISFA-like
set with a FaceWarehouse-like model (seeds 002 and 003).

Both synthetic generators (:func:`aujax.synth.generate_disfa`,
:func:`aujax.synth.generate_facewarehouse`) build their meshes on ``make_face(n_vertices, seed)``:
the template's topology and vertex order depend only on ``n_vertices``, and a DISFA-like subject's
rest mesh is the template plus its identity displacement. So a
:class:`aujax.face.MorphableModel` built from the FaceWarehouse-like meshes at the **same**
``n_vertices`` and seed (:func:`facewarehouse_model`) has the physics' own vertices, and
:func:`subject_rest_mesh` gives a DISFA-like subject's rest mesh in that layout.
"""

import functools
import pathlib

import jax
import numpy as np

from ..datasets import read_facewarehouse
from ..face import FaceTemplate, MorphableModel, identity_basis, make_face
from ._facewarehouse import generate_facewarehouse


__all__ = ["facewarehouse_model", "subject_rest_mesh", "template_face"]


@functools.lru_cache(maxsize=2)
def template_face(n_vertices: int, *, seed: int) -> tuple[FaceTemplate, np.ndarray]:
    """``make_face(n_vertices, seed)`` and its identity basis (each ~1 s to build; cached).

    Args:
        n_vertices: the template's resolution (``make_face``'s argument; the template has about
            that many vertices).
        seed: the template's seed.

    Returns:
        ``(face, basis)``: the :class:`aujax.face.FaceTemplate` and its (I, n, 3) float64
        identity basis (:func:`aujax.face.identity_basis`).
    """
    face = make_face(int(n_vertices), seed=int(seed))
    return face, np.asarray(identity_basis(face), np.float64)


def facewarehouse_model(
    *,
    n_vertices: int,
    seed: int,
    n_subjects: int,
    n_expressions: int,
    n_exp: int,
    n_id: int | None = None,
    cache_dir: str = "",
    log=print,
) -> MorphableModel:
    """The morphable model (seed 002's eqs. 1-2) of the synthetic FaceWarehouse-like meshes.

    :func:`aujax.synth.generate_facewarehouse` (no training poses; generated once and cached under
    ``{cache}/datasets/``) at ``n_vertices`` and ``seed``, read back and turned into a model by
    :meth:`aujax.face.MorphableModel.from_facewarehouse`: the identity PCA of the subjects'
    neutrals and an uncentred PCA of their expression offsets (an expression space learnt from
    FaceWarehouse-like blendshapes, **not** the AU basis), with the landmark embedding and albedos
    of :func:`template_face`.

    Args:
        n_vertices: the template's resolution; the DISFA-like set the model is used on must have
            been generated at the same one (module docstring).
        seed: the generator's seed, the template's and the model's key.
        n_subjects: FaceWarehouse-like subjects.
        n_expressions: meshes per subject (the neutral first).
        n_exp: expression dimensions (capped by the data's rank).
        n_id: identity dimensions (None or 0: every axis with variance, at most 100).
        cache_dir: the cache directory ("" : ``$AUJAX_CACHE`` or ``~/.cache/aujax``).
        log: progress lines (one line: the model's sizes).

    Returns:
        The :class:`aujax.face.MorphableModel` (float64 under x64, else float32).
    """
    root = generate_facewarehouse(
        n_subjects=int(n_subjects), n_expressions=int(n_expressions), n_poses=0, seed=int(seed),
        n_vertices=int(n_vertices), cache_dir=cache_dir, progress=None,
    )  # fmt: skip
    fw = read_facewarehouse(root)
    face = template_face(int(n_vertices), seed=int(seed))[0]
    model = MorphableModel.from_facewarehouse(
        fw, n_exp=int(n_exp), n_id=int(n_id or 0) or None, template=face,
        key=jax.random.key(int(seed)),
    )  # fmt: skip
    log(f"MorphableModel: {fw.vertices.shape[0]} FaceWarehouse-like subjects x "
        f"{fw.vertices.shape[1]} meshes x {model.n_vertices} vertices ({root}); n_id "
        f"{model.n_id}, n_exp {model.n_exp} (expression PCA, not the AU basis), n_alb "
        f"{model.n_alb}.")  # fmt: skip
    return model


def subject_rest_mesh(root, subject: str, *, n_vertices: int, seed: int) -> np.ndarray:
    """(n_vertices, 3) a synthetic DISFA-like subject's rest mesh (the physics' own vertices).

    ``make_face(n_vertices, seed).vertices + identity . identity_basis`` with the identity the
    ground truth ``root/synthetic/{subject}.npz`` stores (:func:`aujax.synth.build_subject_rig`'s
    rest mesh). Its expression meshes are that plus the simulated displacements.
    """
    gt = np.load(pathlib.Path(root) / "synthetic" / f"{subject}.npz")
    face, basis = template_face(n_vertices, seed=seed)
    return np.asarray(face.vertices, np.float64) + np.einsum("j,jnd->nd", gt["identity"], basis)
