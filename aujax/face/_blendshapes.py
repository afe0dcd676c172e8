"""`BlendshapeModel`: neutral face, AU blendshape basis, identity basis and landmarks (DESIGN §3.4).

The AU basis is not drawn by hand: `aujax.physics.build_au_blendshapes` makes AU k's shape the static
equilibrium displacement of the spring-mass skin under AU k's muscles, scaled so that a coefficient
of 5 (FACS intensity E) gives the displacement in `AU_PEAK_DISPLACEMENT`.
"""

import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, Float, Int

from ._facs import AU_IDS, check_au
from ._landmarks import RIGID_LANDMARKS, landmark_subset, landmarks_from_vertices


@struct.dataclass
class BlendshapeModel:
    """A linear face model u = sum_k c_k B_k (seed 001, eq. 3) on a neutral shape.

    Attributes:
      neutral: (n, 3) neutral vertices (cm).
      triangles: (f, 3) faces.
      au_basis: (K, n, 3) AU blendshapes B_k: displacement per unit of AU intensity.
      identity_basis: (I, n, 3) identity modes.
      landmark_triangles, landmark_barycentric: the 68 landmarks on the mesh.
      au_activations: (K, M) muscle activations per unit of AU intensity (what produced B_k), so
        a = c @ au_activations drives the full model with the same expression.
      aus: AU numbers of the rows of `au_basis` (static).
      muscle_names: names of the columns of `au_activations` (static).
    """

    neutral: Float[Array, "n 3"]
    triangles: Int[Array, "f 3"]
    au_basis: Float[Array, "K n 3"]
    identity_basis: Float[Array, "I n 3"]
    landmark_triangles: Int[Array, " 68"]
    landmark_barycentric: Float[Array, "68 3"]
    au_activations: Float[Array, "K M"]
    aus: tuple[int, ...] = struct.field(pytree_node=False, default=AU_IDS)
    muscle_names: tuple[str, ...] = struct.field(pytree_node=False, default=())

    @property
    def n_aus(self) -> int:
        return len(self.aus)

    def au_index(self, au: int) -> int:
        """Row of an AU in the basis; raises a ValueError naming an unknown AU."""
        check_au(au)
        if au not in self.aus:
            raise ValueError(f"AU{au} is not in this model's basis {self.aus}")
        return self.aus.index(au)

    def displacement(self, coefficients: Float[Array, " K"]) -> Float[Array, "n 3"]:
        """u = sum_k c_k B_k (seed 001, eq. 3); one example, vmap for batches."""
        if coefficients.shape != (self.n_aus,):
            raise ValueError(
                f"coefficients must have shape ({self.n_aus},), got {coefficients.shape}"
            )
        return jnp.einsum("k,knd->nd", coefficients, self.au_basis)

    def vertices(
        self, coefficients: Float[Array, " K"], identity: Float[Array, " I"] | None = None
    ) -> Float[Array, "n 3"]:
        """Neutral + identity + AU displacement."""
        v = self.neutral + self.displacement(coefficients)
        if identity is not None:
            if identity.shape != (self.identity_basis.shape[0],):
                raise ValueError(
                    f"identity must have shape ({self.identity_basis.shape[0]},), "
                    f"got {identity.shape}"
                )
            v = v + jnp.einsum("i,ind->nd", identity, self.identity_basis)
        return v

    def landmarks(self, vertices: Float[Array, "n 3"], scheme: int = 68) -> Float[Array, "k 3"]:
        """The 68- (or 66-/49-point) landmarks of a vertex array."""
        p = landmarks_from_vertices(
            vertices, self.triangles, self.landmark_triangles, self.landmark_barycentric
        )
        return p if scheme == 68 else landmark_subset(p, scheme)

    def landmark_basis(self, scheme: int = 68) -> Float[Array, "K k 3"]:
        """Landmark displacement per unit of each AU (the b_k of seed 000, eq. 2)."""
        zero = jnp.zeros_like(self.neutral)
        return jnp.stack(
            [self.landmarks(b + zero, scheme) - self.landmarks(zero, scheme) for b in self.au_basis]
        )

    @property
    def rigid_landmarks(self) -> tuple[int, ...]:
        return RIGID_LANDMARKS

    def save(self, path) -> None:
        """Writes the model to an .npz file (no pickle)."""
        np.savez(
            path,
            **{
                k: np.asarray(getattr(self, k))
                for k in (
                    "neutral",
                    "triangles",
                    "au_basis",
                    "identity_basis",
                    "landmark_triangles",
                    "landmark_barycentric",
                    "au_activations",
                )
            },
            aus=np.asarray(self.aus),
            muscle_names=np.asarray(self.muscle_names),
        )

    @classmethod
    def load(cls, path) -> "BlendshapeModel":
        """Reads a model written by `save` (numeric arrays only; pickles are refused)."""
        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a BlendshapeModel .npz file ({err})") from None
        with z:
            missing = {"neutral", "triangles", "au_basis"} - set(z.files)
            if missing:
                raise ValueError(f"{path}: not a BlendshapeModel file, missing {sorted(missing)}")
            arr = {k: jnp.asarray(z[k]) for k in z.files if k not in ("aus", "muscle_names")}
            return cls(
                **arr,
                aus=tuple(int(a) for a in z["aus"]),
                muscle_names=tuple(str(m) for m in z["muscle_names"]),
            )
