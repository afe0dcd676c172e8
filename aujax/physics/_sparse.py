"""Sparse Hessians and a fast host-side Newton solver for static equilibria (float64, SciPy).

The JAX solver `equilibrium` is the differentiable one (implicit gradients, runs under jit/vmap on
any device). Building a blendshape basis or verifying a reduced model needs many equilibria and
no gradients; there the fastest method on a CPU is Newton's method with the sparse Hessian and a
conjugate-gradient inner solve preconditioned by a sparse LU factorisation of the rest Hessian
H(0), reused across all solves. The Hessian is assembled from the same spring law as
`elastic_energy` (tests check `sparse_hessian(s, u) @ w == hessian_vector_product(s, u, w)`).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._spring_mass import SpringMassSystem, _spring_state, _tension, elastic_energy


@jax.jit
def _spring_blocks(system: SpringMassSystem, u):
    """Per-spring 3x3 Hessian blocks A_s = d^2 E_s / d(x_j - x_i)^2, shape (s, 3, 3)."""
    _, _, n, length, elongation, excess = _spring_state(system, u)
    tension = _tension(system, elongation, excess)
    k_eff = system.stiffness * jnp.where(excess > 0.0, system.biphasic_ratio, 1.0)
    nn = n[:, :, None] * n[:, None, :]
    eye = jnp.eye(3, dtype=u.dtype)[None]
    return k_eff[:, None, None] * nn + (tension / length)[:, None, None] * (eye - nn)


def _assemble_spring_blocks(springs: np.ndarray, blocks: np.ndarray, n: int) -> sp.csr_matrix:
    """Assembles symmetric per-spring 3x3 blocks B_s into ``sum_s (e_i - e_j)(e_i - e_j)^T (x) B_s``.

    Args:
        springs: (s, 2) vertex indices (i, j).
        blocks: (s, 3, 3) symmetric blocks.
        n: number of vertices.

    Returns:
        (3n, 3n) CSR matrix, row/column ``3 i + c`` is coordinate c of vertex i.
    """
    i, j = springs[:, 0].astype(np.int64), springs[:, 1].astype(np.int64)
    c = np.arange(3)
    ri = 3 * i[:, None, None] + c[None, :, None]  # (s, 3, 1) rows of vertex i
    rj = 3 * j[:, None, None] + c[None, :, None]
    ci = 3 * i[:, None, None] + c[None, None, :]  # (s, 1, 3) columns of vertex i
    cj = 3 * j[:, None, None] + c[None, None, :]
    shape = blocks.shape
    rows = np.concatenate([np.broadcast_to(r, shape).ravel() for r in (ri, rj, ri, rj)])
    cols = np.concatenate([np.broadcast_to(q, shape).ravel() for q in (ci, cj, cj, ci)])
    vals = np.concatenate([blocks.ravel(), blocks.ravel(), -blocks.ravel(), -blocks.ravel()])
    return sp.coo_matrix((vals, (rows, cols)), shape=(3 * n, 3 * n)).tocsr()


def sparse_hessian(
    system: SpringMassSystem, u, *, constant: tuple[sp.spmatrix, sp.csr_matrix] | None = None
) -> sp.csr_matrix:
    """The Hessian of `elastic_energy` at displacement u as a (3n, 3n) SciPy CSR matrix.

    Row/column 3 i + c is coordinate c of vertex i. ``constant`` may pass the u-independent part
    (anchors + hinges, :func:`_constant_hessian`) computed once.
    """
    blocks = np.asarray(_spring_blocks(system, jnp.asarray(u, dtype=system.rest.dtype)))
    n = system.rest.shape[0]
    h = _assemble_spring_blocks(np.asarray(system.springs), blocks, n)
    anchors, hinges = _constant_hessian(system) if constant is None else constant
    return (h + anchors + hinges).tocsr()  # this order: the same bits as before the cache


def _constant_hessian(system: SpringMassSystem) -> tuple[sp.spmatrix, sp.csr_matrix]:
    """The u-independent parts of the Hessian: anchor springs (diagonal) and hinge bending."""
    anchors = np.repeat(np.asarray(system.anchor_stiffness), 3)
    return sp.diags(anchors), _hinge_hessian(system)


def _hinge_hessian(system: SpringMassSystem) -> sp.csr_matrix:
    """Hessian of the hinge bending energy sum_e 1/2 s_e |sum_k K_ek u_k|^2 (constant in u)."""
    hinges = np.asarray(system.hinges)
    if hinges.size == 0:
        n = system.rest.shape[0]
        return sp.csr_matrix((3 * n, 3 * n))
    w = np.asarray(system.hinge_weights)
    s = np.asarray(system.hinge_stiffness)
    n = system.rest.shape[0]
    vals = s[:, None, None] * w[:, :, None] * w[:, None, :]  # (h, 4, 4)
    a = np.broadcast_to(hinges[:, :, None], vals.shape)
    b = np.broadcast_to(hinges[:, None, :], vals.shape)
    rows = np.concatenate([3 * a.ravel() + c for c in range(3)])
    cols = np.concatenate([3 * b.ravel() + c for c in range(3)])
    return sp.coo_matrix((np.tile(vals.ravel(), 3), (rows, cols)), shape=(3 * n, 3 * n)).tocsr()


def _norm(x: np.ndarray) -> float:
    """Euclidean norm without BLAS.

    ``np.linalg.norm`` calls OpenBLAS's threaded ddot; on a small busy CPU its spinning threads
    fight XLA's pool and SuperLU's solves (twice the time per iteration at 30,000 vertices).
    """
    return float(np.sqrt(np.sum(x * x)))


_GRAD = jax.jit(jax.grad(elastic_energy, argnums=1))
_ENERGY = jax.jit(elastic_energy)


@dataclasses.dataclass
class EquilibriumStats:
    """Convergence of one host-side solve."""

    residual: float  # ||grad E(u) - f|| / ||f||
    newton_iterations: int
    cg_iterations: int


class SparseEquilibriumSolver:
    """Newton–PCG equilibria of one skin, preconditioned by the factorised rest Hessian.

    Example::

        solver = SparseEquilibriumSolver(system)
        u, stats = solver.solve(f_ext)          # (n, 3) numpy, float64
        u_lin = solver.linear_response(f_ext)   # H(0)^{-1} f
    """

    def __init__(self, system: SpringMassSystem):
        if system.rest.dtype != jnp.float64:
            raise ValueError(
                "SparseEquilibriumSolver needs a float64 system; enable jax_enable_x64 and "
                f"build the system in float64 (got {system.rest.dtype})"
            )
        self.system = system
        self.n = system.rest.shape[0]
        self._constant = _constant_hessian(system)
        # SPD: a symmetric ordering without pivoting keeps Cholesky-like fill (at 30,000 vertices
        # several times faster to factorise and to solve than SciPy's default pivoting)
        self._lu = spla.splu(
            sparse_hessian(system, np.zeros((self.n, 3)), constant=self._constant).tocsc(),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0, options={"SymmetricMode": True},
        )  # fmt: skip
        self._grad = _GRAD  # module-level: one compilation serves every solver of a topology
        self._energy = _ENERGY

    def linear_response(self, f_ext) -> np.ndarray:
        """H(0)^{-1} f: the linearised static displacement, shape (n, 3)."""
        f = np.asarray(f_ext, dtype=np.float64).reshape(-1)
        return self._lu.solve(f).reshape(self.n, 3)

    def solve(
        self, f_ext, *, u0=None, rtol: float = 1e-10, max_newton: int = 30, max_cg: int = 200
    ) -> tuple[np.ndarray, EquilibriumStats]:
        """Minimises E(u) - f.u by Newton's method; returns (u (n, 3), stats).

        Raises:
          RuntimeError: if the residual does not reach `rtol` within `max_newton` steps.
        """
        f = np.asarray(f_ext, dtype=np.float64).reshape(-1)
        fnorm = max(_norm(f), 1e-300)
        u = self.linear_response(f).reshape(-1) if u0 is None else np.asarray(u0).reshape(-1)
        prec = spla.LinearOperator((3 * self.n,) * 2, matvec=self._lu.solve)
        cg_total = 0
        for it in range(max_newton + 1):
            g = np.asarray(self._grad(self.system, jnp.asarray(u.reshape(self.n, 3)))).reshape(-1)
            r = f - g
            res = _norm(r) / fnorm
            if res <= rtol:
                return u.reshape(self.n, 3), EquilibriumStats(res, it, cg_total)
            if it == max_newton:
                break
            h = sparse_hessian(self.system, u.reshape(self.n, 3), constant=self._constant)
            count = []
            step, _ = spla.cg(
                h, r, M=prec, rtol=min(0.1 * res, 1e-2), maxiter=max_cg, callback=count.append
            )
            cg_total += len(count)
            # backtracking on the potential energy E(u) - f.u
            phi = lambda w: (
                float(self._energy(self.system, jnp.asarray(w.reshape(self.n, 3)))) - f @ w
            )
            p0, t = phi(u), 1.0
            while t > 1e-4 and phi(u + t * step) > p0 + 1e-4 * t * (-(r @ step)):
                t *= 0.5
            u = u + t * step
        raise RuntimeError(
            f"sparse equilibrium did not converge: residual {res:.2e} > rtol {rtol:.1e} after "
            f"{max_newton} Newton steps"
        )
