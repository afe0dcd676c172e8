"""The physics branch's template: blendshapes, reduced dynamics and mesh hierarchy (seed 001 §3.1).

Everything the network treats as known physics is computed once on the procedural template
(:func:`aujax.face.make_face`) and held in a :class:`PhysicsTemplate`:

* the AU blendshape model ``u = B c`` (seed 001, eq. 3; :func:`aujax.physics.build_au_blendshapes`),
  whose coefficients the top-down engine reconstructs from landmarks;
* the Galerkin-reduced skin (:func:`aujax.physics.reduce_skin`): the generalized mass
  ``M0 = sum_i m_i B(i)^T B(i)`` (eq. 4 without the 1/2, DESIGN 4.4), stiffness ``K = B^T H B``,
  damping ``D = B^T C B``, and the muscle force maps ``g`` (directed activations, ``Q = g a``) and
  ``G_m`` (paper-style 3-vector forces, ``Q = sum_m G_m F_m``, eq. 9);
* the mesh hierarchy of the spiral encoder (eq. 7; :func:`aujax.nn.build_mesh_hierarchy`).

The template is deliberately coarser than the synthetic subjects' meshes (400 vs 1,500 vertices
by default): the coefficients ``c`` live in the AU basis, which does not depend on the
resolution, and the encoder's cost grows with the vertex count.
"""

import numpy as np
from flax import struct
from jaxtyping import Array, Float

from ...face import BlendshapeModel, make_face
from ...nn import MeshHierarchy, build_mesh_hierarchy
from ...physics import ReducedModel, reduce_template


__all__ = ["PhysicsTemplate", "build_physics_template"]


@struct.dataclass
class PhysicsTemplate:
    """Known physics of the template (all float32 arrays, fixed during training).

    Attributes:
        basis: (K, n, 3) AU blendshape basis B (cm per unit coefficient).
        neutral: (n, 3) template neutral vertices (cm).
        reduced: the Galerkin-reduced skin (mass M0, stiffness K, damping D, force maps g and G).
        hierarchy: the spiral encoder's mesh hierarchy on the template.
        au_muscle_weights: (K, M) muscle activation of each AU basis shape (FACS weights times
            the activation scale): which muscles an AU uses (figures 4 and 5).
        distribution: (n, M) the muscles' distribution matrix P (seed 001, eq. 1).
        directions: (n, M, 3) the muscles' unit pull directions.
        triangles: (f, 3) the template's triangles (figures).
        aus: AU numbers of the basis rows (static).
        muscle_names: the M muscle names (static).
    """

    basis: Float[Array, "K n 3"]
    neutral: Float[Array, "n 3"]
    reduced: ReducedModel
    hierarchy: MeshHierarchy | None
    au_muscle_weights: Float[Array, "K M"]
    distribution: Float[Array, "n M"]
    directions: Float[Array, "n M 3"]
    triangles: Array
    aus: tuple[int, ...] = struct.field(pytree_node=False, default=())
    muscle_names: tuple[str, ...] = struct.field(pytree_node=False, default=())

    @property
    def n_coefficients(self) -> int:
        return int(self.basis.shape[0])

    @property
    def n_muscles(self) -> int:
        return int(self.au_muscle_weights.shape[1])

    def vertex_forces(self, forces) -> np.ndarray:
        """Per-vertex external force ``f_i = sum_m P(i, m) F_m`` (seed 001, eq. 1) of one frame.

        Args:
            forces: (M, 3) paper-style vectors or (M,) directed activations (then
                ``f_i = sum_m a_m P(i, m) d(i, m)``).

        Returns:
            (n, 3) forces on the template's vertices.
        """
        f = np.asarray(forces, np.float64)
        p = np.asarray(self.distribution, np.float64)
        if f.ndim == 2:
            return p @ f
        return np.einsum("im,imd,m->id", p, np.asarray(self.directions, np.float64), f)


def build_physics_template(
    *,
    n_vertices: int = 400,
    seed: int = 0,
    factors=(4, 4),
    seq_length: int = 9,
) -> tuple[PhysicsTemplate, BlendshapeModel]:
    """Builds the template physics once (about 10 s at 400 vertices on 2 CPU cores).

    Args:
        n_vertices: template resolution (approximate vertex count).
        seed: the template's seed (:func:`aujax.face.make_face`).
        factors: down-sampling factors of the encoder's mesh hierarchy.
        seq_length: spiral length of the encoder.

    Returns:
        ``(template, blendshape_model)``: the float32 physics template and the float64 blendshape
        model the top-down engine is built from.
    """
    import jax

    with jax.enable_x64(True):
        face = make_face(n_vertices, seed=seed)
        model, reduced, muscles = reduce_template(face)
        hierarchy = build_mesh_hierarchy(
            np.asarray(face.vertices), np.asarray(face.triangles), factors=factors,
            seq_length=seq_length,
        )  # fmt: skip
        f32 = lambda x: None if x is None else np.asarray(x, np.float32)  # noqa: E731
        reduced32 = jax.tree.map(f32, reduced)
        template = PhysicsTemplate(
            basis=f32(model.au_basis),
            neutral=f32(face.vertices),
            reduced=reduced32,
            hierarchy=hierarchy,
            au_muscle_weights=f32(model.au_activations),
            distribution=f32(muscles.distribution),
            directions=f32(muscles.directions),
            triangles=np.asarray(face.triangles, np.int32),
            aus=tuple(model.aus),
            muscle_names=tuple(muscles.names),
        )
    return template, model
