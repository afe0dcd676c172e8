r"""Bilinear identity x expression face model (seed 004, eqs. 2-3) and the HOSVD that builds it.

The data tensor stacks the meshes of ``n_subjects`` identities in ``n_expressions`` expressions
(FaceWarehouse: 150 x 47 meshes of 11,510 vertices, REFERENCE 5.6). Its Tucker decomposition by
the higher-order SVD (De Lathauwer, De Moor and Vandewalle 2000, "A multilinear singular value
decomposition", SIAM J. Matrix Anal. Appl. 21(4)) truncated in the identity and expression modes
only (Vlasic et al. 2005; Cao et al. 2014, FaceWarehouse) gives the reduced core tensor ``C_r``:

.. math::
    T \approx C_r \times_2 U_{id} \times_3 U_{exp},\qquad
    C_r = T \times_2 U_{id}^\top \times_3 U_{exp}^\top,

and a face is ``S = C_r \times_2 \alpha_{id} \times_3 \beta_{exp}`` (eq. 2), vertex by vertex
``v_i = C_{r,i} \times_2 \alpha_{id} \times_3 \beta_{exp}`` (eq. 3). The model is not centred (as
Cao et al.'s): row ``s`` of ``U_id`` and row ``e`` of ``U_exp`` are the weights of training subject
``s`` in expression ``e``, which reproduce that mesh exactly at full rank, and the model at the mean
weights is the mean of all training meshes (the tensor is bilinear in the two weight vectors).
The means and variances of those rows are the priors of the Mahalanobis terms of eq. 7.
"""

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jaxtyping import Array, ArrayLike, Float, Int

from .._checks import as_float, check_finite, is_concrete
from ._npz import check_shapes, read_model_npz


__all__ = ["HOSVD", "BilinearModel", "hosvd"]

#: The array fields :meth:`BilinearModel.save` writes (``faces`` too, when present).
_ARRAY_FIELDS = (
    "core",
    "id_mean",
    "id_var",
    "exp_mean",
    "exp_var",
    "train_id_weights",
    "train_exp_weights",
)

#: Variance floor of the weight priors, relative to the largest variance of the same mode: a
#: direction in which every training subject (or expression) agrees gets a finite precision.
_VARIANCE_FLOOR = 1e-8


class HOSVD(NamedTuple):
    """A truncated higher-order SVD ``tensor ~ core x_1 U_1 x_2 U_2 ... x_N U_N``.

    Attributes:
        core: the core tensor; mode n has size ``r_n`` (or ``I_n`` where the mode is not reduced).
        factors: per mode, the (I_n, r_n) factor ``U_n`` with orthonormal columns (the leading left
            singular vectors of the mode-n unfolding, each column's largest-magnitude entry
            positive), or None for a mode that is not reduced.
        singular_values: per mode, the (min(I_n, P_n),) singular values of the mode-n unfolding
            (``P_n`` the product of the other sizes) in decreasing order, all of them (for choosing
            ranks by energy), or None for a mode that is not reduced.
    """

    core: Array
    factors: tuple[Array | None, ...]
    singular_values: tuple[Array | None, ...]


def _unfold(tensor: Array, mode: int) -> Array:
    """Mode-n unfolding (I_n, P_n) (column order: the other modes in C order)."""
    return jnp.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def _fix_signs(u: Array) -> Array:
    """Flips each column so that its largest-magnitude entry is positive (deterministic SVD)."""
    pivot = jnp.take_along_axis(u, jnp.argmax(jnp.abs(u), axis=0)[None, :], axis=0)
    return u * jnp.where(pivot < 0, -1.0, 1.0).astype(u.dtype)


@functools.partial(jax.jit, static_argnames="mode")
def _left_singular(tensor: Array, mode: int) -> tuple[Array, Array]:
    """All left singular vectors (I_n, m) and values (m,) of the mode-n unfolding, m = min(I_n, P_n).

    A wide unfolding (``I_n <= P_n``: the identity and expression modes) goes through the
    eigendecomposition of its (I_n, I_n) Gram matrix, contracted over the other modes (no explicit
    unfolding; cheap for FaceWarehouse's 150 x (34,530 * 47)); a tall one through a thin SVD. The
    Gram route squares the condition number: singular values below about ``sqrt(eps) s_max`` and
    their vectors are inaccurate, which matters neither for a truncation to the leading modes nor
    for the exact reconstruction at full rank (the factor is orthogonal either way).
    """
    size = tensor.shape[mode]
    rest = tensor.size // size
    if size <= rest:
        other = [a for a in range(tensor.ndim) if a != mode]
        gram = jnp.tensordot(tensor, tensor, axes=(other, other))  # (I_n, I_n)
        evals, evecs = jnp.linalg.eigh(gram)
        u = evecs[:, ::-1]
        s = jnp.sqrt(jnp.maximum(evals[::-1], 0.0))
    else:
        u, s, _ = jnp.linalg.svd(_unfold(tensor, mode), full_matrices=False)
    return _fix_signs(u), s


@functools.partial(jax.jit, static_argnames="mode")
def _mode_product(tensor: Array, matrix: Array, mode: int) -> Array:
    """``tensor x_n matrix``: contracts mode n of ``tensor`` with the columns of ``matrix`` (J, I_n)."""
    out = jnp.tensordot(matrix, tensor, axes=([1], [mode]))  # mode n first
    return jnp.moveaxis(out, 0, mode)


def hosvd(tensor: Float[ArrayLike, "..."], *, ranks: Sequence[int | None]) -> HOSVD:
    r"""Truncated higher-order SVD (Tucker decomposition) of an N-mode tensor.

    For every reduced mode n, ``U_n`` holds the ``r_n`` leading left singular vectors of the mode-n
    unfolding; the core is the projection ``C = T x_1 U_1^T ... x_N U_N^T`` (non-reduced modes are
    left as they are), and

    .. math::
        T \approx C \times_1 U_1 \times_2 U_2 \cdots \times_N U_N,

    with equality when every ``r_n`` is the rank of its unfolding (e.g. ``min(I_n, P_n)``).

    Args:
        tensor: an N-mode array (N >= 2), finite.
        ranks: N entries; ``r_n`` in ``1..min(I_n, P_n)`` (``P_n`` the product of the other
            sizes), or None to leave mode n unreduced (no factor is computed: the vertex mode of a
            face tensor).

    Returns:
        :class:`HOSVD` ``(core, factors, singular_values)``.

    Raises:
        ValueError: a tensor with fewer than 2 modes, an empty or non-finite one, a wrong number
            of ranks or a rank out of range (the message names the mode and the allowed range).
    """
    t = as_float(tensor, "tensor")
    if t.ndim < 2 or t.size == 0:
        raise ValueError(f"tensor must have at least 2 non-empty modes, got shape {t.shape}.")
    check_finite(t, "tensor")
    ranks = tuple(ranks)
    if len(ranks) != t.ndim:
        raise ValueError(f"ranks must have one entry per mode ({t.ndim}), got {len(ranks)}.")
    factors: list[Array | None] = []
    values: list[Array | None] = []
    core = t
    for mode, rank in enumerate(ranks):
        if rank is None:
            factors.append(None)
            values.append(None)
            continue
        top = min(t.shape[mode], t.size // t.shape[mode])
        if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 1 <= rank <= top:
            raise ValueError(
                f"ranks[{mode}] must be an int in 1..{top} (mode {mode} has size "
                f"{t.shape[mode]}, the other modes {t.size // t.shape[mode]} entries), or None; "
                f"got {rank!r}."
            )
        u, s = _left_singular(t, mode=mode)
        u = u[:, : int(rank)]
        factors.append(u)
        values.append(s)
        core = _mode_product(core, u.T, mode=mode)
    return HOSVD(core=core, factors=tuple(factors), singular_values=tuple(values))


@struct.dataclass
class BilinearModel:
    r"""Bilinear identity x expression face model (seed 004, eqs. 2-3) with weight priors.

    ``v_i = C_{r,i} x_2 w_id x_3 w_exp``: every vertex is bilinear in the identity weights
    ``w_id`` (n_id,) and the expression weights ``w_exp`` (n_exp,). Build it with
    :meth:`from_tensor`; evaluate with :meth:`vertices` (one example; ``jax.vmap`` for batches).

    Attributes:
        core: (n_vertices, 3, n_id, n_exp) reduced core tensor ``C_r`` (the vertex mode
            unreduced, reshaped to vertices x coordinates).
        id_mean, id_var: (n_id,) mean and variance of the identity weights over the training
            subjects (the rows of ``U_id``): ``mu_alpha`` and ``1 / diag(Q_alpha)`` of eq. 7.
        exp_mean, exp_var: (n_exp,) the same over the training expressions (``mu_beta``,
            ``1 / diag(Q_beta)``).
        train_id_weights: (n_subjects, n_id) the identity weights of the training subjects
            (the truncated ``U_id``).
        train_exp_weights: (n_expressions, n_exp) the expression weights of the training
            expressions (the truncated ``U_exp``).
        faces: (n_faces, 3) triangle vertex indices, or None when not given.
    """

    core: Float[Array, "n_vertices 3 n_id n_exp"]
    id_mean: Float[Array, " n_id"]
    id_var: Float[Array, " n_id"]
    exp_mean: Float[Array, " n_exp"]
    exp_var: Float[Array, " n_exp"]
    train_id_weights: Float[Array, "n_subjects n_id"]
    train_exp_weights: Float[Array, "n_expressions n_exp"]
    faces: Int[Array, "n_faces 3"] | None = None

    @property
    def n_vertices(self) -> int:
        return self.core.shape[0]

    @property
    def n_id(self) -> int:
        return self.core.shape[2]

    @property
    def n_exp(self) -> int:
        return self.core.shape[3]

    @classmethod
    def from_tensor(
        cls,
        vertices: Float[ArrayLike, "n_subjects n_expressions n_vertices 3"],
        *,
        n_id: int,
        n_exp: int,
        faces: Int[ArrayLike, "n_faces 3"] | None = None,
    ) -> "BilinearModel":
        """Builds the model by HOSVD of the vertices x identity x expression tensor.

        Args:
            vertices: (n_subjects, n_expressions, n_vertices, 3) meshes in one shared vertex order
                (FaceWarehouse: subject s's blendshape e, REFERENCE 5.6), n_subjects >= 2 and
                n_expressions >= 2, finite.
            n_id: identity modes kept, 1..n_subjects (Cao et al. keep 50 of 150).
            n_exp: expression modes kept, 1..n_expressions (Cao et al. keep 25 of 47).
            faces: optional (n_faces, 3) triangle indices into the vertices.

        Returns:
            The :class:`BilinearModel`; at ``n_id = n_subjects`` and ``n_exp = n_expressions``
            the training weights reproduce every training mesh exactly.

        Raises:
            ValueError: a wrong shape, too few subjects or expressions, non-finite vertices,
                ranks out of range, or faces of the wrong shape or out of range.
        """
        v = as_float(vertices, "vertices")
        if v.ndim != 4 or v.shape[3] != 3 or v.shape[2] == 0:
            raise ValueError(
                "vertices must have shape (n_subjects, n_expressions, n_vertices, 3), "
                f"got {v.shape}."
            )
        n_subjects, n_expressions, n_vertices, _ = v.shape
        if n_subjects < 2 or n_expressions < 2:
            raise ValueError(
                "vertices must hold at least 2 subjects and 2 expressions (the priors are "
                f"variances over them), got {n_subjects} subjects x {n_expressions} expressions."
            )
        for name, value, top in (("n_id", n_id, n_subjects), ("n_exp", n_exp, n_expressions)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name} must be an int, got {value!r}.")
            if not 1 <= value <= top:
                raise ValueError(f"{name} must be in 1..{top}, got {value}.")
        if faces is not None:
            faces = jnp.asarray(faces)
            if (
                faces.ndim != 2
                or faces.shape[1] != 3
                or not jnp.issubdtype(faces.dtype, jnp.integer)
            ):
                raise ValueError(f"faces must be an integer array (n_faces, 3), got {faces.shape}.")
            if (
                is_concrete(faces)
                and faces.size
                and (int(jnp.min(faces)) < 0 or int(jnp.max(faces)) >= n_vertices)
            ):
                raise ValueError(f"faces must index vertices in 0..{n_vertices - 1}.")
        # modes: vertices, coordinates, identity, expression
        tensor = jnp.transpose(v, (2, 3, 0, 1))
        dec = hosvd(tensor, ranks=(None, None, int(n_id), int(n_exp)))
        u_id, u_exp = dec.factors[2], dec.factors[3]
        id_mean, id_var = _moments(u_id)
        exp_mean, exp_var = _moments(u_exp)
        return cls(
            core=dec.core,
            id_mean=id_mean,
            id_var=id_var,
            exp_mean=exp_mean,
            exp_var=exp_var,
            train_id_weights=u_id,
            train_exp_weights=u_exp,
            faces=faces,
        )

    def vertices(
        self,
        w_id: Float[Array, " n_id"],
        w_exp: Float[Array, " n_exp"],
        *,
        indices: Int[ArrayLike, " k"] | None = None,
    ) -> Float[Array, "n 3"]:
        r"""The mesh ``S = C_r x_2 w_id x_3 w_exp`` (eq. 2), or its vertices ``indices`` (eq. 3).

        One example, pure jnp (jit, vmap and grad friendly); ``jax.vmap`` over weights for batches.
        Evaluated in the core's dtype (the weights are cast to it).

        Args:
            w_id: (n_id,) identity weights ``alpha_id``.
            w_exp: (n_exp,) expression weights ``beta_exp``.
            indices: optional (k,) vertex indices ``i`` of eq. 3; default every vertex.

        Returns:
            (n_vertices, 3) vertices, or (k, 3) when ``indices`` is given.
        """
        dtype = self.core.dtype
        w_id, w_exp = jnp.asarray(w_id).astype(dtype), jnp.asarray(w_exp).astype(dtype)
        if w_id.shape != (self.n_id,):
            raise ValueError(f"w_id must have shape ({self.n_id},), got {w_id.shape}.")
        if w_exp.shape != (self.n_exp,):
            raise ValueError(f"w_exp must have shape ({self.n_exp},), got {w_exp.shape}.")
        core = self.core if indices is None else self.core[jnp.asarray(indices)]
        return jnp.einsum("vcie,i,e->vc", core, w_id, w_exp)

    def identity_basis(
        self, w_exp: Float[Array, " n_exp"], *, indices: Int[ArrayLike, " k"] | None = None
    ) -> Float[Array, "n 3 n_id"]:
        """``C_r x_3 w_exp``: the vertices are linear in ``w_id`` with this (n, 3, n_id) basis."""
        core = self.core if indices is None else self.core[jnp.asarray(indices)]
        return jnp.einsum("vcie,e->vci", core, jnp.asarray(w_exp).astype(core.dtype))

    def expression_basis(
        self, w_id: Float[Array, " n_id"], *, indices: Int[ArrayLike, " k"] | None = None
    ) -> Float[Array, "n 3 n_exp"]:
        """``C_r x_2 w_id``: the vertices are linear in ``w_exp`` with this (n, 3, n_exp) basis."""
        core = self.core if indices is None else self.core[jnp.asarray(indices)]
        return jnp.einsum("vcie,i->vce", core, jnp.asarray(w_id).astype(core.dtype))

    def mean_vertices(self) -> Float[Array, "n_vertices 3"]:
        """The model at the mean weights: the mean of the training meshes (exact at full rank)."""
        return self.vertices(self.id_mean, self.exp_mean)

    def save(self, path) -> None:
        """Writes the model to an ``.npz`` file (plain arrays, no pickle)."""
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAY_FIELDS}
        if self.faces is not None:
            arrays["faces"] = np.asarray(self.faces)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path) -> "BilinearModel":
        """Reads a model written by :meth:`save` (pickles are refused).

        Raises:
            ValueError: naming the file, when it is not such an ``.npz`` or its arrays disagree.
        """
        arrays = read_model_npz(path, "BilinearModel", _ARRAY_FIELDS, optional=("faces",))
        faces = arrays.pop("faces", None)
        core = arrays["core"]
        if core.ndim != 4 or core.shape[1] != 3:
            raise ValueError(f"{path}: core must have shape (n_vertices, 3, n_id, n_exp).")
        n_id, n_exp = core.shape[2:]
        expected = {
            "id_mean": (n_id,),
            "id_var": (n_id,),
            "exp_mean": (n_exp,),
            "exp_var": (n_exp,),
            "train_id_weights": (None, n_id),
            "train_exp_weights": (None, n_exp),
        }
        check_shapes(path, arrays, expected)
        if faces is not None and (faces.ndim != 2 or faces.shape[1] != 3):
            raise ValueError(f"{path}: faces has shape {faces.shape}, expected (n_faces, 3).")
        return cls(
            **{name: jnp.asarray(value) for name, value in arrays.items()},
            faces=None if faces is None else jnp.asarray(faces),
        )


@jax.jit
def _moments(weights: Array) -> tuple[Array, Array]:
    """Mean and floored variance over the rows of a (n, r) weight matrix."""
    mean = jnp.mean(weights, axis=0)
    var = jnp.mean(jnp.square(weights - mean[None, :]), axis=0)
    floor = _VARIANCE_FLOOR * jnp.max(var) + jnp.finfo(var.dtype).tiny
    return mean, jnp.maximum(var, floor)
