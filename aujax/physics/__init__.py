"""Physics: spring-mass skin, equilibrium, AU blendshapes, generalized coordinates, reduced dynamics,
the Kalman/RTS smoother with the reduced dynamics as its prior, and the inversion of the reduced
dynamics for muscle activations."""

from ._au_basis import AUBasisReport as AUBasisReport, build_au_blendshapes as build_au_blendshapes
from ._dynamics import is_undamped as is_undamped, relax as relax, simulate as simulate
from ._equilibrium import (
    EquilibriumResult as EquilibriumResult,
    equilibrium as equilibrium,
    linear_response as linear_response,
)
from ._generalized import (
    directed_force_map as directed_force_map,
    generalized_damping as generalized_damping,
    generalized_force as generalized_force,
    generalized_mass as generalized_mass,
    generalized_stiffness as generalized_stiffness,
    muscle_force_maps as muscle_force_maps,
    project as project,
    reconstruct as reconstruct,
)
from ._implicit import (
    ImplicitIntegrator as ImplicitIntegrator,
    simulate_implicit as simulate_implicit,
    sparse_damping as sparse_damping,
)
from ._integrate import ADJOINTS as ADJOINTS, SOLVERS as SOLVERS, solve_frames as solve_frames
from ._inversion import (
    ActivationInversion as ActivationInversion,
    invert_activations as invert_activations,
    window_design as window_design,
)
from ._newmark_dense import (
    dense_effective_inverse as dense_effective_inverse,
    newmark_dense as newmark_dense,
)
from ._reduce_skin import reduce_skin as reduce_skin
from ._reduced import (
    ReducedModel as ReducedModel,
    cholesky_from_mass as cholesky_from_mass,
    galerkin_model as galerkin_model,
    generalized_acceleration as generalized_acceleration,
    mass_from_cholesky as mass_from_cholesky,
    paper_model as paper_model,
    reduced_force as reduced_force,
    static_response as static_response,
)
from ._reduced_integrate import (
    euler_paper as euler_paper,
    simulate_reduced as simulate_reduced,
    simulate_reduced_exact as simulate_reduced_exact,
    zoh_propagator as zoh_propagator,
)
from ._smoother import (
    CoefficientSmoother as CoefficientSmoother,
    ReducedStateSpace as ReducedStateSpace,
    SmoothedTrajectory as SmoothedTrajectory,
    SmootherSettings as SmootherSettings,
    difference_noise as difference_noise,
    kalman_log_likelihood as kalman_log_likelihood,
    reduced_state_space as reduced_state_space,
    rts_smoother as rts_smoother,
    select_hyperparameters as select_hyperparameters,
    smooth_coefficients as smooth_coefficients,
)
from ._sparse import (
    EquilibriumStats as EquilibriumStats,
    SparseEquilibriumSolver as SparseEquilibriumSolver,
    sparse_hessian as sparse_hessian,
)
from ._spring_mass import (
    SkinParams as SkinParams,
    SpringMassSystem as SpringMassSystem,
    acceleration as acceleration,
    build_spring_mass as build_spring_mass,
    damping_matvec as damping_matvec,
    distribute_forces as distribute_forces,
    elastic_energy as elastic_energy,
    hessian_vector_product as hessian_vector_product,
    internal_forces as internal_forces,
    kinetic_energy as kinetic_energy,
    muscle_forces as muscle_forces,
    total_energy as total_energy,
)
from ._template_reduction import reduce_template as reduce_template
