"""Physics-built AU blendshapes (DESIGN §3.4): B_k = equilibrium displacement under AU k's muscles."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..face import (
    AU_IDS,
    AU_PEAK_DISPLACEMENT,
    BlendshapeModel,
    FaceTemplate,
    MuscleSet,
    au_muscle_matrix,
    identity_basis,
    make_muscles,
)
from ._equilibrium import equilibrium, linear_response
from ._sparse import SparseEquilibriumSolver
from ._spring_mass import SkinParams, SpringMassSystem, build_spring_mass, muscle_forces


@dataclasses.dataclass(frozen=True)
class AUBasisReport:
    """How each AU blendshape was made.

    Attributes:
      aus: the AUs, in basis order.
      activation_scale: (K,) muscle activation per unit of AU intensity (alpha_k).
      peak_displacement: (K,) peak vertex displacement at `intensity` (cm), full nonlinear model.
      linear_peak: (K,) the same from the linearised model (what alpha_k was set from).
      residual: (K,) relative equilibrium residual of each solve.
      newton_iterations: (K,) Newton iterations of each solve.
    """

    aus: tuple[int, ...]
    activation_scale: np.ndarray
    peak_displacement: np.ndarray
    linear_peak: np.ndarray
    residual: np.ndarray
    newton_iterations: np.ndarray


def build_au_blendshapes(
    face: FaceTemplate,
    *,
    muscles: MuscleSet | None = None,
    params: SkinParams | None = None,
    system: SpringMassSystem | None = None,
    aus: tuple[int, ...] = AU_IDS,
    intensity: float = 5.0,
    rtol: float = 1e-9,
    method: str = "sparse",
) -> tuple[BlendshapeModel, AUBasisReport]:
    """Builds the AU basis from the physics.

    For each AU k with FACS muscle weights W[k] (`au_muscle_matrix`):

    1. f_k = sum_m W[k, m] P[:, m] d[:, m] (seed 001, eq. 1, directed form), unit activation;
    2. alpha_k = peak_k / (intensity * max_i |H^{-1} f_k|_i), with H the rest Hessian, so that the
       linearised displacement at `intensity` peaks at `AU_PEAK_DISPLACEMENT[k]` cm;
    3. B_k = u*(intensity * alpha_k * f_k) / intensity, where u* is the full, geometrically nonlinear
       static equilibrium (minimum of elastic + anchor energy minus external work).

    B_k is therefore the secant of the nonlinear response at intensity E (5): the basis reproduces
    each single AU exactly at intensity 5 and to first order at small intensities.

    Args:
      face: the template.
      muscles: its muscles (default `make_muscles(face)`).
      params: skin parameters (default `SkinParams()`), ignored when `system` is given.
      system: a prebuilt spring-mass system of `face`.
      aus: AUs of the basis, in order.
      intensity: the intensity at which the nonlinear equilibrium is solved.
      rtol: relative residual of each equilibrium solve.
      method: "sparse" (host-side Newton-PCG on SciPy's sparse LU of the rest Hessian; fast on a
        CPU, float64 only) or "jax" (the differentiable JAX solver `equilibrium`, any device).

    Returns:
      (model, report).
    """
    if muscles is None:
        muscles = make_muscles(face)
    if system is None:
        system = build_spring_mass(face.vertices, face.triangles, face.bone_weights, params=params)
    w = jnp.asarray(au_muscle_matrix(muscles.names, aus), dtype=face.vertices.dtype)
    unit_forces = jax.vmap(lambda a: muscle_forces(muscles.distribution, muscles.directions, a))(w)
    if method == "sparse":
        solver = SparseEquilibriumSolver(system)
        lin = solver.linear_response

        def solve(f, u0):
            u, stats = solver.solve(f, u0=u0, rtol=rtol)
            return jnp.asarray(u), stats.residual, stats.newton_iterations

    elif method == "jax":
        lin = jax.jit(linear_response)
        eq = jax.jit(lambda s, f, u0: equilibrium(s, f, u0=u0, rtol=rtol))

        def solve(f, u0):
            out = eq(system, f, u0)
            return out.u, float(out.residual_norm), int(out.newton_iterations)

        lin = lambda f, _lin=lin: _lin(system, f)
    else:
        raise ValueError(f"method must be 'sparse' or 'jax', got {method!r}")
    basis, scales, peaks, lin_peaks, res, its = [], [], [], [], [], []
    for k, au in enumerate(aus):
        u_lin = jnp.asarray(lin(unit_forces[k]))
        lin_peak = float(jnp.max(jnp.linalg.norm(u_lin, axis=1)))
        alpha = AU_PEAK_DISPLACEMENT[au] / (intensity * lin_peak)
        u, r, it = solve(intensity * alpha * unit_forces[k], intensity * alpha * u_lin)
        basis.append(u / intensity)
        scales.append(alpha)
        peaks.append(float(jnp.max(jnp.linalg.norm(u, axis=1))))
        lin_peaks.append(intensity * alpha * lin_peak)
        res.append(r)
        its.append(it)
    scales = np.asarray(scales)
    model = BlendshapeModel(
        neutral=face.vertices,
        triangles=face.triangles,
        au_basis=jnp.stack(basis),
        identity_basis=identity_basis(face).astype(face.vertices.dtype),
        landmark_triangles=face.landmark_triangles,
        landmark_barycentric=face.landmark_barycentric,
        au_activations=jnp.asarray(scales, dtype=w.dtype)[:, None] * w,
        aus=tuple(aus),
        muscle_names=muscles.names,
    )
    report = AUBasisReport(
        aus=tuple(aus),
        activation_scale=scales,
        peak_displacement=np.asarray(peaks),
        linear_peak=np.asarray(lin_peaks),
        residual=np.asarray(res),
        newton_iterations=np.asarray(its),
    )
    return model, report
