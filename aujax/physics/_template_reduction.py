"""A face template's physics in one call: muscles, spring-mass skin, AU blendshapes and the
Galerkin-reduced skin on them (DESIGN 4.1-4.3)."""

import jax.numpy as jnp

from ..face import BlendshapeModel, FaceTemplate, MuscleSet, make_muscles
from ._au_basis import build_au_blendshapes
from ._reduce_skin import reduce_skin
from ._reduced import ReducedModel
from ._spring_mass import build_spring_mass


__all__ = ["reduce_template"]


def reduce_template(
    face: FaceTemplate, *, blendshapes: BlendshapeModel | None = None
) -> tuple[BlendshapeModel, ReducedModel, MuscleSet]:
    """The template's AU blendshapes and its skin reduced onto them (``form="galerkin"``).

    :func:`build_au_blendshapes` on the template's muscles and spring-mass skin, then
    :func:`reduce_skin` of that skin onto the AU basis with the muscles' directed force map g.
    Call it under ``jax.enable_x64(True)`` for the float64 models the methods use.

    Args:
        face: the template.
        blendshapes: the template's blendshape model if already built (else built here).

    Returns:
        ``(blendshapes, reduced, muscles)``.
    """
    muscles = make_muscles(face)
    system = build_spring_mass(face.vertices, face.triangles, face.bone_weights)
    if blendshapes is None:
        blendshapes, _ = build_au_blendshapes(face, muscles=muscles, system=system)
    reduced = reduce_skin(
        system,
        jnp.asarray(blendshapes.au_basis, face.vertices.dtype),
        distribution=muscles.distribution,
        directions=muscles.directions,
        form="galerkin",
    )
    return blendshapes, reduced, muscles
