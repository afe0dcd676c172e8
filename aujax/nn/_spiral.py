r"""Spiral sequences on a triangle mesh and the spiral convolution (SpiralNet++, REFERENCE §8.2).

A spiral of vertex ``v0`` lists ``v0``, its one-ring in a consistent rotational order, then the
next rings, each continued from where the previous one ended (Gong et al. 2019,
``utils/generate_spiral_seq.py``). The sequence is truncated to ``seq_length * dilation``
entries and every ``dilation``-th entry is kept. Where the rings run out before the length is
reached (tiny meshes, isolated vertices, small components), the spiral is the ``seq_length *
dilation`` nearest vertices of ``v0`` (a KD-tree query, ``v0`` first), subsampled in the same way.

The topology is fixed, so the spirals are built once, in NumPy, on the template and reused by
every sample. The convolution then is a gather and one matrix product:

.. math::

    y_i = W \, [x_{s_{i,1}} \| x_{s_{i,2}} \| \dots \| x_{s_{i,S}}] + b .

**Orientation.** The one-ring is walked *clockwise* seen from the side where the triangles are
counter-clockwise (the front of the face, +z), as OpenMesh's default ``vv`` circulator does. A
boundary vertex's ring starts at its boundary neighbour at the counter-clockwise end of its fan
(OpenMesh starts at the outgoing boundary half-edge) so the walk covers the fan in one sweep. An
interior vertex's ring starts at its lowest-index neighbour (OpenMesh starts at whatever
half-edge the file order left stored; any fixed choice works since the layer learns the weights).

**Departure.** SpiralNet++ switches to the kNN fallback whenever the ring after the last one it
appended is empty, even if the rings already reached the length; here the fallback is used only
when the rings really run out before ``seq_length * dilation`` entries.
"""

import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, ArrayLike, Float, Int
from scipy.spatial import cKDTree


__all__ = ["SpiralConv", "one_rings", "spiral_indices"]


def _check_triangles(triangles: ArrayLike, n_vertices: int) -> np.ndarray:
    tri = np.asarray(triangles)
    if tri.ndim != 2 or tri.shape[1] != 3:
        raise ValueError(f"triangles must have shape (f, 3), got {tri.shape}")
    if not np.issubdtype(tri.dtype, np.integer):
        raise ValueError(f"triangles must be integer vertex indices, got dtype {tri.dtype}")
    if isinstance(n_vertices, bool) or not isinstance(n_vertices, int | np.integer):
        raise ValueError(f"n_vertices must be an int, got {type(n_vertices).__name__}")
    if n_vertices < 1:
        raise ValueError(f"n_vertices must be positive, got {n_vertices}")
    if tri.size and (tri.min() < 0 or tri.max() >= n_vertices):
        raise ValueError(
            f"triangles index vertices in [{tri.min()}, {tri.max()}], expected [0, {n_vertices})"
        )
    return tri.astype(np.int64)


def one_rings(triangles: ArrayLike, n_vertices: int) -> list[list[int]]:
    """Returns every vertex's one-ring in clockwise order (OpenMesh ``vv`` order, see module doc).

    Args:
      triangles: (f, 3) int vertex indices, counter-clockwise seen from the front.
      n_vertices: number of vertices N (vertices in no triangle get an empty ring).

    Returns:
      A list of N lists of neighbour indices. For an interior vertex ``v`` with ring
      ``[a_0, a_1, ...]``, every triangle ``(v, a_{k+1}, a_k)`` exists (clockwise walk). On
      non-manifold vertices (several fans) the fans follow each other; neighbours reached by no
      walk are appended in index order.
    """
    tri = _check_triangles(triangles, n_vertices)
    # Counter-clockwise successor around v: triangle (v, a, b) sends a -> b. The clockwise walk
    # follows the reverse map b -> a.
    cw_next: list[dict[int, int]] = [{} for _ in range(n_vertices)]
    for a, b, c in tri.tolist():
        cw_next[a].setdefault(c, b)
        cw_next[b].setdefault(a, c)
        cw_next[c].setdefault(b, a)
    rings: list[list[int]] = []
    for v in range(n_vertices):
        nxt = cw_next[v]
        if not nxt:
            rings.append([])
            continue
        nodes = set(nxt) | set(nxt.values())
        nodes.discard(v)
        has_pred = set(nxt.values())
        # Chains (boundary fans) start where no clockwise predecessor exists; cycles anywhere.
        starts = sorted(n for n in nodes if n not in has_pred) + sorted(nodes)
        ring: list[int] = []
        seen: set[int] = set()
        for s in starts:
            node = s
            while node not in seen and node in nodes:
                seen.add(node)
                ring.append(node)
                node = nxt.get(node, -1)
        rings.append(ring)
    return rings


def _next_ring(rings: list[list[int]], last_ring: list[int], used: set[int]) -> list[int]:
    """SpiralNet++ ``_next_ring``: continue each vertex's walk just after a last-ring neighbour."""
    last = set(last_ring)
    res: list[int] = []
    seen = set(used) | last
    for v in last_ring:
        ring = rings[v]
        j = next((k for k, w in enumerate(ring) if w in last), -1)
        for w in ring[j + 1 :] + ring[: max(j, 0)]:
            if w not in seen:
                seen.add(w)
                res.append(w)
    return res


def spiral_indices(
    triangles: ArrayLike,
    n_vertices: int,
    *,
    seq_length: int,
    dilation: int = 1,
    vertices: ArrayLike | None = None,
) -> np.ndarray:
    """Spiral sequences of every vertex of a triangle mesh (SpiralNet++ recipe).

    Args:
      triangles: (f, 3) int vertex indices, counter-clockwise seen from the front.
      n_vertices: number of vertices N.
      seq_length: S, entries per spiral (the centre vertex included).
      dilation: keep every ``dilation``-th entry of the first ``S * dilation``.
      vertices: (N, 3) positions, needed only when some vertex's rings run out (kNN fallback).

    Returns:
      (N, S) int32 array; row i starts with i.

    Raises:
      ValueError: on malformed triangles, non-positive ``seq_length``/``dilation``, a spiral
        longer than the mesh, or a needed kNN fallback without ``vertices``.
    """
    tri = _check_triangles(triangles, n_vertices)
    for name, val in (("seq_length", seq_length), ("dilation", dilation)):
        if isinstance(val, bool) or not isinstance(val, int | np.integer) or val < 1:
            raise ValueError(f"{name} must be a positive int, got {val!r}")
    length = seq_length * dilation
    if length > n_vertices:
        raise ValueError(
            f"seq_length * dilation = {length} exceeds n_vertices = {n_vertices}; "
            "expected a spiral no longer than the mesh"
        )
    rings = one_rings(tri, n_vertices)
    out = np.empty((n_vertices, seq_length), dtype=np.int32)
    fallback: list[int] = []
    for v in range(n_vertices):
        spiral = [v]
        used = {v}
        last_ring = list(rings[v])
        while last_ring and len(spiral) < length:
            spiral.extend(last_ring)
            used.update(last_ring)
            last_ring = _next_ring(rings, last_ring, used)
        if len(spiral) < length:
            fallback.append(v)
            continue
        out[v] = spiral[:length:dilation]
    if fallback:
        if vertices is None:
            raise ValueError(
                f"the rings of {len(fallback)} vertices (e.g. {fallback[0]}) run out before "
                f"{length} entries; pass vertices (N, 3) for the kNN fallback"
            )
        pts = np.asarray(vertices, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[0] != n_vertices:
            raise ValueError(f"vertices must have shape ({n_vertices}, d), got {pts.shape}")
        _, nn = cKDTree(pts).query(pts[fallback], k=length)
        nn = np.asarray(nn).reshape(len(fallback), length)
        for row, v in zip(nn, fallback, strict=True):
            # v first even when a coincident vertex ties with it.
            seq = [v] + [int(w) for w in row if w != v]
            out[v] = seq[:length:dilation]
    return out


class SpiralConv(nnx.Module):
    """Spiral convolution: gather each vertex's spiral and apply one dense layer (REFERENCE §8.2).

    Attributes:
      indices: (N, S) int spiral indices (a non-trainable array, not an ``nnx.Param``).
      linear: the ``nnx.Linear(S * in_features -> out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        indices: Int[ArrayLike, "n s"],
        use_bias: bool = True,
        dtype: jnp.dtype | None = None,
        param_dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        """Builds the layer.

        Args:
          in_features: C_in.
          out_features: C_out.
          indices: (N, S) spiral indices from :func:`spiral_indices`.
          use_bias: add a bias.
          dtype: computation dtype (None: from the input and parameters).
          param_dtype: parameter dtype.
          rngs: parameter initialisation streams.
        """
        idx = np.asarray(indices)
        if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be an (N, S) int array, got {idx.dtype} {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= idx.shape[0]):
            raise ValueError(
                f"indices must lie in [0, {idx.shape[0]}), got {idx.min()}..{idx.max()}"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.n_vertices, self.seq_length = (int(s) for s in idx.shape)
        self.indices = jnp.asarray(idx, dtype=jnp.int32)
        self.linear = nnx.Linear(
            self.seq_length * in_features,
            out_features,
            use_bias=use_bias,
            dtype=dtype,
            param_dtype=param_dtype,
            rngs=rngs,
        )

    def __call__(self, x: Float[Array, "*batch n c_in"]) -> Float[Array, "*batch n c_out"]:
        """Applies the convolution.

        Args:
          x: (..., N, C_in) vertex features, any leading batch dimensions.

        Returns:
          (..., N, C_out).
        """
        if x.ndim < 2 or x.shape[-2:] != (self.n_vertices, self.in_features):
            raise ValueError(
                f"x must have shape (..., {self.n_vertices}, {self.in_features}), got {x.shape}"
            )
        gathered = jnp.take(x, self.indices, axis=-2)  # (..., N, S, C_in)
        flat = gathered.reshape(*x.shape[:-2], self.n_vertices, self.seq_length * self.in_features)
        return self.linear(flat)
