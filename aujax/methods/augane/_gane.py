r"""GANE, seed 003's graph attention network encoder (eqs. 1-3, fig. 1(c)), in Flax NNX.

.. math::

   V_{AFG} = \{v_1, \dots, v_N\},\ v_i \in \mathbb{R}^{F} \quad (1), \qquad
   V_{GANE} = V_{AFG} \,\|\, X E,\ E \in \mathbb{R}^{G \times F} \quad (2), \qquad
   V'_{GANE} = \mathrm{GAT}(V_{GANE}) = \{v'_1, \dots, v'_{N+1}\} \quad (3),

then :math:`[T_Q \,\|\, V'_{GANE}]` -> transformer encoder -> the output at the query token
:math:`T_Q` -> linear heads to the expression ψ, pose θ and camera c. The paper: N AU nodes of
F = 512 from the AU detector's feature generator (ME-GraphAU's AFG), the DECA encoder's global
feature X of G = 2048 projected by the trainable linear E (no bias: "linear projection") into
**one** extra node (eq. 3 has N + 1 nodes). The GAT is fully connected (the nodes have no given
topology) and the transformer has no positional encoding, so GANE's output does not depend on
the order of the AU nodes. The paper gives no depths, head counts or head layers: the defaults
(GAT 2 layers x 4 heads, transformer depth 2 x 8 heads, one linear layer per output) are ours;
the output sizes default to DECA's FLAME parameters (50 expression, 6 pose: global + jaw axis
angles, 3 camera: s, t_x, t_y).
"""

import flax.struct
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from ...nn import GAT, QueryTokenEncoder


__all__ = ["GANE", "GANEOutput"]


@flax.struct.dataclass
class GANEOutput:
    """GANE's regressed parameters Θ_GANE.

    Attributes:
      expression: (..., expression_dim) ψ.
      pose: (..., pose_dim) θ.
      camera: (..., camera_dim) c = (s, t_x, t_y).
    """

    expression: Float[Array, "*batch n_exp"]
    pose: Float[Array, "*batch n_pose"]
    camera: Float[Array, "*batch n_cam"]


class GANE(nnx.Module):
    """The graph attention network encoder (eqs. 1-3 and the query-token readout).

    Attributes:
      project: E, ``nnx.Linear(global_features -> node_features)`` without bias (eq. 2).
      gat: the :class:`aujax.nn.GAT` of eq. 3.
      encoder: the :class:`aujax.nn.QueryTokenEncoder` (fig. 1(c)).
      expression, pose, camera: the linear heads on the query token's output.
    """

    def __init__(
        self,
        node_features: int = 512,
        global_features: int = 2048,
        *,
        expression_dim: int = 50,
        pose_dim: int = 6,
        camera_dim: int = 3,
        gat_layers: int = 2,
        gat_heads: int = 4,
        transformer_depth: int = 2,
        transformer_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds GANE.

        Args:
          node_features: F, the width of the AU nodes and of every token (paper: 512).
          global_features: G, the width of the global feature X (paper: DECA's 2048).
          expression_dim: ψ's size (DECA / FLAME: 50).
          pose_dim: θ's size (DECA: 6, global and jaw axis angles).
          camera_dim: c's size (3: s, t_x, t_y).
          gat_layers: GAT layers (paper silent; default 2).
          gat_heads: heads of every GAT layer (paper silent; default 4, averaged in the last).
          transformer_depth: transformer blocks (paper silent; default 2).
          transformer_heads: attention heads (paper silent; default 8); divides node_features.
          mlp_ratio: the transformer MLP's hidden width / F.
          dropout: dropout rate of the GAT and the transformer (``model.train()`` mode).
          dtype: computation dtype.
          param_dtype: parameter dtype.
          rngs: parameter initialisation (and dropout) streams.
        """
        for name, value in (
            ("node_features", node_features),
            ("global_features", global_features),
            ("expression_dim", expression_dim),
            ("pose_dim", pose_dim),
            ("camera_dim", camera_dim),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.node_features = node_features
        self.global_features = global_features
        common = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.project = nnx.Linear(global_features, node_features, use_bias=False, **common)
        self.gat = GAT(
            node_features,
            node_features,
            num_layers=gat_layers,
            num_heads=gat_heads,
            dropout=dropout,
            **common,
        )
        self.encoder = QueryTokenEncoder(
            node_features,
            depth=transformer_depth,
            num_heads=transformer_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            **common,
        )
        self.expression = nnx.Linear(node_features, expression_dim, **common)
        self.pose = nnx.Linear(node_features, pose_dim, **common)
        self.camera = nnx.Linear(node_features, camera_dim, **common)

    def nodes(
        self,
        au_features: Float[Array, "*batch n f"],
        global_feature: Float[Array, "*batch g"],
    ) -> Float[Array, "*batch n1 f"]:
        """Eq. 2: :math:`V_{GANE} = V_{AFG} \\| X E`, the N AU nodes then the global node.

        Args:
          au_features: (..., N, node_features) V_AFG (eq. 1), the detector's AU nodes.
          global_feature: (..., global_features) X, the global encoder's feature.

        Returns:
          (..., N + 1, node_features).
        """
        if au_features.ndim < 2 or au_features.shape[-1] != self.node_features:
            raise ValueError(
                f"au_features must have shape (..., N, {self.node_features}), "
                f"got {au_features.shape}"
            )
        if global_feature.shape != (*au_features.shape[:-2], self.global_features):
            raise ValueError(
                f"global_feature must have shape {(*au_features.shape[:-2], self.global_features)}"
                f" (au_features' batch, global_features), got {global_feature.shape}"
            )
        g = self.project(global_feature)[..., None, :]
        return jnp.concatenate([au_features.astype(g.dtype), g], axis=-2)

    def embed(
        self,
        au_features: Float[Array, "*batch n f"],
        global_feature: Float[Array, "*batch g"],
    ) -> Float[Array, "*batch n1 f"]:
        """Eq. 3: :math:`V'_{GANE}`, the attention-embedded nodes.

        Args:
          au_features: (..., N, node_features) V_AFG.
          global_feature: (..., global_features) X.

        Returns:
          (..., N + 1, node_features).
        """
        return self.gat(self.nodes(au_features, global_feature))

    def __call__(
        self,
        au_features: Float[Array, "*batch n f"],
        global_feature: Float[Array, "*batch g"],
    ) -> GANEOutput:
        """Regresses Θ_GANE = (ψ, θ, c) from the AU nodes and the global feature.

        Args:
          au_features: (..., N, node_features) V_AFG, any N (AU count) and leading batch.
          global_feature: (..., global_features) X.

        Returns:
          :class:`GANEOutput` of (..., expression_dim), (..., pose_dim), (..., camera_dim);
          invariant to the order of the N AU nodes.
        """
        token = self.encoder(self.embed(au_features, global_feature))
        return GANEOutput(
            expression=self.expression(token), pose=self.pose(token), camera=self.camera(token)
        )
