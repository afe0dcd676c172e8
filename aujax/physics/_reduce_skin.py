"""Galerkin reduction of the full spring-mass skin onto a blendshape basis (DESIGN §4.2–4.3)."""

from typing import Literal

from jaxtyping import Array, Float

from ._generalized import (
    directed_force_map,
    generalized_damping,
    generalized_mass,
    generalized_stiffness,
    muscle_force_maps,
)
from ._reduced import ReducedModel, galerkin_model, paper_model
from ._spring_mass import SpringMassSystem, damping_matvec, hessian_vector_product


def reduce_skin(
    system: SpringMassSystem,
    basis: Float[Array, "K n 3"],
    *,
    distribution: Float[Array, "n m"] | None = None,
    directions: Float[Array, "n m 3"] | None = None,
    form: Literal["galerkin", "paper"] = "galerkin",
) -> ReducedModel:
    """Projects the skin's mass, stiffness, damping and muscle force maps onto span(B).

    M = sum_i m_i B(i)^T B(i) (seed 001, eq. 4 without the 1/2, DESIGN §4.4); K = B^T H B with H
    the Hessian of the elastic + anchor energy at rest; D = B^T C B with C the damping matrix
    (both by matrix-vector products, never an n x n matrix); g and G_m (seed 001, eq. 9) when the
    muscles are given. `form="paper"` keeps only M and the force maps (seed 001, eq. 5).

    Differentiable with respect to every array of `system` (stiffness, damping, masses) and B.
    """
    zero = system.rest * 0.0
    mass = generalized_mass(basis, system.mass)
    maps = {}
    if distribution is not None:
        maps["muscle_maps"] = muscle_force_maps(basis, distribution)
        if directions is not None:
            maps["force_map"] = directed_force_map(basis, distribution, directions)
    if form == "paper":
        return paper_model(mass, **maps)
    if form != "galerkin":
        raise ValueError(f"form must be 'galerkin' or 'paper', got {form!r}")
    stiffness = generalized_stiffness(basis, lambda w: hessian_vector_product(system, zero, w))
    damping = generalized_damping(basis, lambda w: damping_matvec(system, w))
    return galerkin_model(mass, stiffness, damping, **maps)
