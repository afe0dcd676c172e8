r"""Implicit host-side integration of the full spring-mass skin: Newmark average acceleration.

The full Cartesian model (seed 001, eq. 2) is stiff: the hinge bending modes scale like
``1 / h^2`` in the mesh spacing h, so the explicit :func:`aujax.physics._dynamics.simulate`
(tsit5) needs ~10^4 steps per simulated second at N = 30,000 vertices. This module integrates
the same equations with Newmark's average-acceleration rule (``beta = 1/4``, ``gamma = 1/2``):
unconditionally stable, second order, no numerical damping, and energy-conserving for linear
undamped systems. With ``h = dt / substeps`` a step solves

.. math::
    R(u_1) = M a_1 - f^{int}(u_1, v_1) - f^{ext} = 0, \qquad
    a_1 = \tfrac{4}{h^2}(u_1 - u_0 - h v_0) - a_0, \qquad
    v_1 = v_0 + \tfrac{h}{2}(a_0 + a_1) = \tfrac{2}{h}(u_1 - u_0) - v_0,

with the Jacobian ``K_eff(u) = (4 / h^2) M + (2 / h) C(u) + H(u)`` (plus a small non-symmetric
term from the dashpot directions turning with u). ``K_eff(0)`` is assembled sparsely (SciPy) and
factorised once with ``scipy.sparse.linalg.splu``; each step then runs either

* ``method="modified"`` (default): modified Newton, ``du = -K_eff(0)^{-1} R``, accelerated by
  Anderson mixing; one force evaluation and one triangular solve per iteration, or
* ``method="krylov"``: inexact Newton on the exact Jacobian (a jitted ``jax.jvp`` of R), each
  linear solve by GMRES preconditioned with the same factorisation; 2-3 Newton iterations per
  step but dearer ones.

Measured (2-core CPU shared with other jobs) on the procedural face, 1 s of AU6 + AU12 ramping
to intensity 5 over 0.2 s, then held (~0.86 cm peak), dt = 0.04 s, rtol 1e-8:

============  ==========  ========  ============  ===================================
vertices      substeps    run (s)   iter./step    max vertex error vs tsit5 / peak
============  ==========  ========  ============  ===================================
3,048         2           3.0       6.7           0.95 % (RMS 0.41 %)
3,048         4           4.8       5.4           0.35 % (RMS 0.20 %)
3,048         8           8.4       4.6           0.13 % (RMS 0.06 %)
30,429        2           35        6.8           (factorisation 7-9 s, once per mesh)
30,429        4           65        5.9
============  ==========  ========  ============  ===================================

tsit5 (``simulate``, rtol 1e-6) took 196 s at 3,048 vertices and, extrapolated from 4 ms,
~3 * 10^4 s at 30,429. "krylov" needs 2.1 Newton iterations per step but is 3x slower (9.3 s
at 3,048 vertices, substeps 2).

Newmark's average acceleration does not dissipate: stiff, lightly damped modes excited by the
frame-wise force steps (``omega h >> 1``, mostly hinge bending) keep ringing at a small
amplitude, their physical damping rate divided by ``1 + (omega h / 2)^2``. A force held for 1 s
leaves ~4e-4 of the displacement at substeps 2 and ~1e-6 at substeps 8 (tsit5: 3e-7; 451
vertices, 25 fps).

Forces follow the frame convention of ``simulate``: frame k's force acts on
``[k dt, (k + 1) dt)`` (held constant over its substeps), states are saved at the frame times,
``us[0] = u0``, and T - 1 intervals are integrated. The acceleration jumps where the force does;
at a frame boundary the step starts from the right limit ``a_0 + M^{-1} (f_k - f_{k-1})``, so the
scheme stays second order with piecewise-constant forcing.

Everything runs in float64 on the host (SciPy); the forces ``f^{int}`` are evaluated by the jitted
JAX :func:`internal_forces`. Nothing here is differentiable: it is the fast CPU path of the data
generator and of the benchmarks. Use ``simulate`` where gradients are needed. The same scheme on
the device, batched over sequences with a dense ``K_eff(0)^{-1}``, is
:mod:`aujax.physics._newmark_dense`.
"""

import dataclasses
import numbers

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from jaxtyping import ArrayLike, Float

from .._checks import check_finite
from ._sparse import _assemble_spring_blocks, _norm, sparse_hessian
from ._spring_mass import SpringMassSystem, _spring_state, internal_forces


__all__ = [
    "ImplicitIntegrator",
    "ImplicitStats",
    "simulate_implicit",
    "sparse_damping",
]

_METHODS = ("modified", "krylov")


# ------------------------------------------------------------------------------------------------
# sparse damping matrix


@jax.jit
def _dashpot_blocks(system: SpringMassSystem, u):
    """Per-spring damping blocks ``gamma_s n_s n_s^T`` (s, 3, 3) at displacement u."""
    n = _spring_state(system, u)[2]
    return system.damping[:, None, None] * n[:, :, None] * n[:, None, :]


def sparse_damping(
    system: SpringMassSystem, u: Float[ArrayLike, "n 3"] | None = None
) -> sp.csr_matrix:
    r"""The damping matrix ``C(u) = -d f^{int} / dv`` as a (3n, 3n) SciPy CSR matrix.

    .. math::
        C(u) = \sum_s \gamma_s\, (e_i - e_j)(e_i - e_j)^T \otimes n_s n_s^T
        + \operatorname{diag}(c_i) \otimes I_3,

    Voigt dashpots along the current spring directions ``n_s`` plus the anchor damping
    ``c_i = system.anchor_damping[i]``. At ``u = 0`` it is the matrix of :func:`damping_matvec`.
    Row/column ``3 i + c`` is coordinate c of vertex i (as in ``sparse_hessian``).

    Args:
        system: the skin (float64).
        u: (n, 3) displacement (default: rest).

    Returns:
        (3n, 3n) symmetric positive semi-definite CSR matrix.
    """
    _check_float64_system(system)
    n = system.n_vertices
    u = np.zeros((n, 3)) if u is None else _host_state(system, "u", u)
    blocks = np.asarray(_dashpot_blocks(system, jnp.asarray(u)))
    c = _assemble_spring_blocks(np.asarray(system.springs), blocks, n)
    return (c + sp.diags(np.repeat(np.asarray(system.anchor_damping), 3))).tocsr()


# ------------------------------------------------------------------------------------------------
# jitted residual of one Newmark step


@jax.jit
def _internal(system, u, v):
    return internal_forces(system, u, v)


def _newmark_residual(system, u1, u0, v0, a0, f, h):
    """Newmark residual ``R(u1)`` (n, 3) with ``(v1, a1)``; see the module docstring."""
    a1 = (4.0 / h**2) * (u1 - u0 - h * v0) - a0
    v1 = (2.0 / h) * (u1 - u0) - v0
    r = system.mass[:, None] * a1 - internal_forces(system, u1, v1) - f
    return r, v1, a1


_residual = jax.jit(_newmark_residual)


@jax.jit
def _residual_jvp(system, u1, u0, v0, a0, f, h, w):
    """Exact Jacobian of the Newmark residual applied to w: ``dR/du1 w`` (n, 3)."""
    return jax.jvp(lambda x: _newmark_residual(system, x, u0, v0, a0, f, h)[0], (u1,), (w,))[1]


# ------------------------------------------------------------------------------------------------
# validation helpers


def _check_float64_system(system: SpringMassSystem) -> None:
    if not isinstance(system, SpringMassSystem):
        raise ValueError(f"system must be a SpringMassSystem, got {type(system).__name__}.")
    if system.rest.dtype != jnp.float64:
        raise ValueError(
            "system must be float64 for the host-side implicit integrator; enable "
            f"jax_enable_x64 and build it from float64 vertices (got {system.rest.dtype})."
        )


def _host_float(name: str, x) -> np.ndarray:
    """float64 numpy copy of x; ValueError if x is not float64 or holds NaN/inf."""
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise ValueError(f"{name} must be float64 (a host solver), got dtype {x.dtype}.")
    check_finite(x, name)
    return np.array(x, dtype=np.float64)


def _host_state(system: SpringMassSystem, name: str, x) -> np.ndarray:
    """(n, 3) float64 numpy copy of x; ValueError on a wrong shape, dtype or NaN/inf."""
    n = system.n_vertices
    shape = np.shape(x)
    if shape != (n, 3):
        raise ValueError(f"{name} must have shape (n, 3) = ({n}, 3), got shape {shape}.")
    return _host_float(name, x)


def _host_forces(system: SpringMassSystem, forces) -> np.ndarray:
    """(T, n, 3) float64 numpy copy of the forces with T >= 1; ValueError otherwise."""
    n = system.n_vertices
    shape = np.shape(forces)
    if len(shape) != 3 or shape[1:] != (n, 3) or shape[0] < 1:
        raise ValueError(
            f"forces must have shape (T, n, 3) with T >= 1 and n = {n}, got shape {shape}."
        )
    return _host_float("forces", forces)


def _is_int(x) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _check_settings(*, dt=None, substeps=None, method=None, anderson=None, rtol=None,
                    max_iter=None) -> None:  # fmt: skip
    """ValueErrors naming any setting out of range (None: not checked)."""
    if dt is not None and (
        not isinstance(dt, numbers.Real) or isinstance(dt, bool) or not 0.0 < float(dt) < np.inf
    ):
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}.")
    if substeps is not None and (not _is_int(substeps) or substeps < 1):
        raise ValueError(f"substeps must be an int >= 1, got {substeps!r}.")
    if method is not None and method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    if anderson is not None and (not _is_int(anderson) or anderson < 0):
        raise ValueError(f"anderson must be an int >= 0, got {anderson!r}.")
    if rtol is not None and (not isinstance(rtol, numbers.Real) or not 0.0 < float(rtol) < 1.0):
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}.")
    if max_iter is not None and (not _is_int(max_iter) or max_iter < 1):
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}.")


# ------------------------------------------------------------------------------------------------
# the integrator


@dataclasses.dataclass(frozen=True)
class ImplicitStats:
    """Convergence record of one :meth:`ImplicitIntegrator.run`.

    Attributes:
        steps: Newmark steps taken, ``(T - 1) * substeps``.
        iterations: nonlinear iterations (residual corrections), summed over the steps.
        max_iterations: the most nonlinear iterations any one step needed.
        linear_iterations: GMRES iterations summed over the run (0 for ``"modified"``).
        max_residual: the largest accepted relative residual ``||R|| / max(||f_ext||, ||M a||)``.
    """

    steps: int
    iterations: int
    max_iterations: int
    linear_iterations: int
    max_residual: float


class ImplicitIntegrator:
    r"""Newmark average-acceleration integrator of one skin, factorised once.

    Assembles ``K_eff(0) = (4 / h^2) M + (2 / h) C(0) + H(0)`` with ``h = dt / substeps`` and
    factorises it with SciPy's ``splu`` (symmetric mode, no pivoting: K_eff is SPD); :meth:`run`
    then integrates any number of force sequences on the same mesh (a data generator runs many
    sequences per subject).

    Two nonlinear solvers share the factorisation:

    * ``"modified"``: modified Newton ``du = -K_eff(0)^{-1} R(u)``, accelerated by Anderson mixing
      of depth ``anderson`` (Walker & Ni 2011, type II; the history restarts when the residual
      grows). One force evaluation and one triangular solve per iteration. Anderson(5) cuts the
      iterations by 15-30 % at AU-level forces (more without damping).
    * ``"krylov"``: inexact Newton on the exact Jacobian (a jitted ``jax.jvp`` of R) with GMRES
      preconditioned by ``K_eff(0)^{-1}``: 2-3 Newton iterations per step, but each GMRES
      iteration costs a Jacobian product and a triangular solve; 2-4x slower on the face meshes.

    Example::

        integrator = ImplicitIntegrator(system, dt=0.04, substeps=2)
        us, vs = integrator.run(forces)           # forces (T, n, 3) -> (T, n, 3) numpy float64

    Args:
        system: the skin; must be float64.
        dt: frame interval (s), > 0.
        substeps: Newmark steps per frame (>= 1); the step is ``h = dt / substeps``.
        method: ``"modified"`` or ``"krylov"``.
        anderson: Anderson depth of ``"modified"`` (0: plain modified Newton).
        permc_spec: column ordering of ``splu``; ``"MMD_AT_PLUS_A"`` (minimum degree on the
            symmetric pattern) gave the least fill on the face meshes.

    Raises:
        ValueError: if the system is not float64 or a setting is out of range.
    """

    def __init__(
        self,
        system: SpringMassSystem,
        *,
        dt: float,
        substeps: int = 2,
        method: str = "modified",
        anderson: int = 5,
        permc_spec: str = "MMD_AT_PLUS_A",
    ):
        _check_float64_system(system)
        _check_settings(dt=dt, substeps=substeps, method=method, anderson=anderson)
        self.system = system
        self.dt = float(dt)
        self.substeps = int(substeps)
        self.method = method
        self.anderson = int(anderson)
        self.h = self.dt / self.substeps
        self.n = system.n_vertices
        self._mass = np.asarray(system.mass, dtype=np.float64)
        zero = np.zeros((self.n, 3))
        k_eff = (
            sp.diags(np.repeat((4.0 / self.h**2) * self._mass, 3))
            + (2.0 / self.h) * sparse_damping(system, zero)
            + sparse_hessian(system, zero)
        )
        self.k_eff = k_eff.tocsc()  # (3n, 3n) K_eff(0), kept for dense_effective_inverse
        # SPD: no pivoting and a symmetric ordering keep the fill of a Cholesky factor (at 30,000
        # vertices 6x faster to factorise and 5x faster to solve than SciPy's default pivoting).
        self._lu = spla.splu(
            k_eff.tocsc(), permc_spec=permc_spec, diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )  # fmt: skip
        # Round-off floor of a force evaluation: an ulp of the positions (|x| <= x_max) changes a
        # spring force by ~k_s eps x_max; smaller residuals cannot be resolved.
        x_max = float(np.max(np.abs(np.asarray(system.rest))))
        k = np.asarray(system.stiffness)
        self.noise_floor = 16.0 * np.finfo(np.float64).eps * x_max * float(np.sqrt(np.sum(k * k)))

    def run(
        self,
        forces: Float[ArrayLike, "T n 3"],
        u0: Float[ArrayLike, "n 3"] | None = None,
        v0: Float[ArrayLike, "n 3"] | None = None,
        *,
        rtol: float = 1e-8,
        max_iter: int = 30,
        return_stats: bool = False,
    ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, ImplicitStats]:
        r"""Integrates one force sequence (seed 001, eq. 2) with Newmark's average acceleration.

        Each step iterates until ``||R|| <= rtol * max(||f_ext||, ||M a_1||)``, or until ``||R||``
        reaches the round-off floor of the force evaluation, :attr:`noise_floor`
        (``16 eps max|x_rest| ||k||_2``, relevant only for tiny forces).

        Args:
            forces: (T, n, 3) float64 external force of each frame; frame k's force acts on
                ``[k dt, (k + 1) dt)``, the last frame's force is not used.
            u0: (n, 3) float64 initial displacement (default: rest).
            v0: (n, 3) float64 initial velocity (default: zero).
            rtol: relative residual tolerance of each step, in (0, 1).
            max_iter: maximum nonlinear iterations per step (>= 1).
            return_stats: also return an :class:`ImplicitStats`.

        Returns:
            ``(us, vs)``, each (T, n, 3) float64 numpy: displacements and velocities at the
            frame times (``us[0] = u0``); plus the :class:`ImplicitStats` if ``return_stats``.

        Raises:
            ValueError: on wrong shapes, non-float64 or NaN/inf inputs, or bad tolerances.
            RuntimeError: if a step does not converge within ``max_iter`` iterations (the message
                names the frame interval and the substep).
        """
        forces = _host_forces(self.system, forces)
        n = self.n
        u = np.zeros((n, 3)) if u0 is None else _host_state(self.system, "u0", u0)
        v = np.zeros((n, 3)) if v0 is None else _host_state(self.system, "v0", v0)
        _check_settings(rtol=rtol, max_iter=max_iter)
        n_frames = forces.shape[0]
        us = np.empty((n_frames, n, 3))
        vs = np.empty((n_frames, n, 3))
        us[0], vs[0] = u, v
        a = (np.asarray(_internal(self.system, u, v)) + forces[0]) / self._mass[:, None]
        counts = np.zeros(3, dtype=np.int64)  # iterations, max iterations, GMRES iterations
        worst = self._integrate(forces, us, vs, a, float(rtol), int(max_iter), counts)
        if not return_stats:
            return us, vs
        stats = ImplicitStats(
            steps=(n_frames - 1) * self.substeps,
            iterations=int(counts[0]),
            max_iterations=int(counts[1]),
            linear_iterations=int(counts[2]),
            max_residual=worst,
        )
        return us, vs, stats

    def _integrate(self, forces, us, vs, a, rtol, max_iter, counts) -> float:
        """Fills us[1:], vs[1:] from us[0], vs[0]; returns the worst accepted relative residual."""
        m = self._mass[:, None]
        u, v = us[0], vs[0]
        worst = 0.0
        for k in range(forces.shape[0] - 1):
            f = forces[k]
            if k > 0:  # the acceleration jumps with the force: start from its right limit
                a = a + (f - forces[k - 1]) / m
            for s in range(self.substeps):
                try:
                    u, v, a, its, lin, res = self._step(u, v, a, f, rtol, max_iter)
                except _NotConverged as e:
                    raise RuntimeError(
                        f"implicit step did not converge in frame interval {k} ([{k} dt, "
                        f"{k + 1} dt), dt = {self.dt:g}), substep {s} of {self.substeps}: "
                        f"{e} (method {self.method!r}); increase max_iter or substeps."
                    ) from None
                counts += (its, 0, lin)
                counts[1] = max(counts[1], its)
                worst = max(worst, res)
            us[k + 1], vs[k + 1] = u, v
        return worst

    def _step(self, u0, v0, a0, f, rtol, max_iter):
        """One Newmark step from (u0, v0, a0) under the force f.

        Returns:
            (u1, v1, a1, iterations, GMRES iterations, relative residual).

        Raises:
            _NotConverged: after ``max_iter`` iterations or on a non-finite residual.
        """
        h, shape = self.h, (self.n, 3)
        m = self._mass[:, None]
        f_norm = _norm(f)
        args = (u0, v0, a0, f, h)
        u1 = u0 + h * v0  # predictor: constant velocity (fewest iterations in a benchmark)
        mixer = _Anderson(self.anderson)
        linear = 0
        r_last = np.inf
        for it in range(max_iter + 1):
            r, v1, a1 = (np.asarray(x) for x in _residual(self.system, u1, *args))
            r_norm = _norm(r)
            scale = max(f_norm, _norm(m * a1))
            target = max(rtol * scale, self.noise_floor)
            if r_norm <= target:
                return u1, v1, a1, it, linear, r_norm / max(scale, np.finfo(np.float64).tiny)
            if it == max_iter or not np.isfinite(r_norm):
                break
            if self.method == "modified":
                if r_norm > r_last:  # the mixing went astray: restart its history
                    mixer.reset()
                correction = self._lu.solve(-r.reshape(-1))
                du = mixer.step(u1.reshape(-1), correction)
            else:
                eta = min(0.1, 0.5 * target / r_norm)  # enough to reach the target in one step
                du, n_lin = self._newton_direction(u1, args, r, eta)
                linear += n_lin
            r_last = r_norm
            u1 = u1 + du.reshape(shape)
        raise _NotConverged(
            f"residual {r_norm:.3e} > target {target:.3e} (rtol {rtol:.1e}) after {it} iterations"
        )

    def _newton_direction(self, u1, args, r, eta):
        """Inexact Newton direction: GMRES on the exact Jacobian, preconditioned by K_eff(0)^{-1}.

        Returns:
            (du (3n,), GMRES iterations).
        """
        n3, shape = 3 * self.n, (self.n, 3)

        def matvec(w):
            return np.asarray(_residual_jvp(self.system, u1, *args, w.reshape(shape))).reshape(-1)

        jac = spla.LinearOperator((n3, n3), matvec=matvec, dtype=np.float64)
        prec = spla.LinearOperator((n3, n3), matvec=self._lu.solve, dtype=np.float64)
        count = [0]

        def callback(_):
            count[0] += 1

        du, _ = spla.gmres(
            jac, -r.reshape(-1), M=prec, rtol=eta, atol=0.0, restart=20, maxiter=10,
            callback=callback, callback_type="pr_norm",
        )  # fmt: skip
        return du, count[0]


class _NotConverged(Exception):
    """A Newmark step's nonlinear solve failed (re-raised as RuntimeError with the frame)."""


class _Anderson:
    r"""Anderson mixing (type II) of a fixed-point iteration ``x <- x + g(x)``.

    With the last ``depth`` differences ``dX`` of iterates and ``dG`` of corrections, the step is
    ``g - (dX + dG) gamma`` with ``gamma = argmin ||g - dG gamma||`` (depth 0: the plain step g).
    """

    def __init__(self, depth: int):
        self.depth = depth
        self.reset()

    def reset(self) -> None:
        self._dx: list[np.ndarray] = []
        self._dg: list[np.ndarray] = []
        self._x = self._g = None

    def step(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Returns the mixed update for iterate x (3n,) with correction g (3n,)."""
        if self.depth == 0:
            return g
        if self._x is not None:
            self._dx.append(x - self._x)
            self._dg.append(g - self._g)
            if len(self._dx) > self.depth:
                self._dx.pop(0)
                self._dg.pop(0)
        self._x, self._g = x, g
        if not self._dg:
            return g
        dg = np.stack(self._dg)  # (k, 3n)
        gram = dg @ dg.T
        gram = gram + 1e-12 * np.trace(gram) * np.eye(len(self._dg))
        gamma = np.linalg.solve(gram, dg @ g)
        return g - gamma @ (np.stack(self._dx) + dg)


def simulate_implicit(
    system: SpringMassSystem,
    forces: Float[ArrayLike, "T n 3"],
    *,
    dt: float,
    u0: Float[ArrayLike, "n 3"] | None = None,
    v0: Float[ArrayLike, "n 3"] | None = None,
    substeps: int = 2,
    rtol: float = 1e-8,
    max_iter: int = 30,
    method: str = "modified",
) -> tuple[np.ndarray, np.ndarray]:
    r"""Simulates the full skin with the implicit Newmark integrator (seed 001, eq. 2).

    .. math:: m_i \ddot u_i = f_i^{int}(u, \dot u) + f_i^{ext,k}, \qquad t \in [k\,dt, (k+1)\,dt)

    Same frame convention as :func:`simulate`: states at the T frame times, ``us[0] = u0``,
    T - 1 intervals integrated with ``substeps`` Newmark steps each. A one-shot wrapper around
    :class:`ImplicitIntegrator`, which factorises ``K_eff`` once: keep one to run many sequences
    on the same mesh.

    Args:
        system: the skin; must be float64.
        forces: (T, n, 3) float64 external force of each frame.
        dt: frame interval (s).
        u0: (n, 3) float64 initial displacement (default: rest).
        v0: (n, 3) float64 initial velocity (default: zero).
        substeps: Newmark steps per frame (>= 1).
        rtol: relative residual tolerance of each step.
        max_iter: maximum nonlinear iterations per step.
        method: ``"modified"`` (Anderson-accelerated modified Newton) or ``"krylov"`` (Newton-GMRES),
            see :class:`ImplicitIntegrator`.

    Returns:
        ``(us, vs)``, each (T, n, 3) float64 numpy.

    Raises:
        ValueError: on bad shapes, dtypes, NaN/inf or settings (checked before the factorisation).
        RuntimeError: if a step does not converge (the message names the frame and substep).
    """
    _check_float64_system(system)
    forces = _host_forces(system, forces)
    if u0 is not None:
        u0 = _host_state(system, "u0", u0)
    if v0 is not None:
        v0 = _host_state(system, "v0", v0)
    _check_settings(dt=dt, substeps=substeps, method=method, rtol=rtol, max_iter=max_iter)
    integrator = ImplicitIntegrator(system, dt=dt, substeps=substeps, method=method)
    return integrator.run(forces, u0, v0, rtol=rtol, max_iter=max_iter)
