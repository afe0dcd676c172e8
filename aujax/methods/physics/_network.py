r"""The physics branch of seed 001 (§3.2.1, §3.2.3, eqs. 7-12) as one Flax NNX module.

Per window of T frames with blendshape coefficients ``c(t)`` (K,) reconstructed from landmarks:

1. meshes ``u(t) = B c(t)`` on the template (eq. 3);
2. the spiral-convolution encoder ``z3d(t) = E(u(t))`` (eq. 7);
3. the regressor ``F_reg`` (eq. 8): per-frame muscle forces — directed activations
   ``a(t) >= 0`` (M,) (``force_mode="activations"``, softplus) or paper-style 3-vectors
   ``F(t)`` (M, 3) (``force_mode="vectors"``) — and one SPD generalized mass per window from the
   time-averaged code, ``M^B = L L^T`` with L lower triangular, positive diagonal
   (:func:`aujax.physics.mass_from_cholesky`);
4. the generalized force ``Q(t) = g a(t)`` or ``sum_m G_m F_m(t)`` (eq. 9) with the template's maps;
5. the ODE decoder (eq. 10): ``M^B c'' = Q`` (``dynamics="paper"``, eq. 5) or
   ``M^B c'' + D c' + K c = Q`` (``"galerkin"``, the Galerkin-projected skin, DESIGN 4.3), started
   from ``c(0)`` with the paper's ``c'(0) = (c(dt) - c(0)) / dt`` (``initial_velocity="paper"``)
   or the least-squares slope of the first frames (``"fit"``, see below), integrated by the
   paper's Euler (eq. 6, ``solver="euler"``) or a diffrax solver (``"heun"``, ``"tsit5"``, ...)
   -> ``c~(t)``;
6. the AU head ``H`` (eq. 12): a shallow MLP on the concatenation of the selected per-frame
   features — ``"force"`` (a or F), ``"position"`` (c), ``"geometry"`` (z3d) and ``"image"``
   (z2d of the frozen image branch, eq. 11) — giving AU logits.

The table 1 rows of seed 001 are feature choices of this one module (``features``) with or
without the reconstruction loss (:mod:`aujax.methods.physics._losses`).

Departures (DESIGN 4.4): the mass carries no factor 1/2 (the network absorbs it either way); the
force is held at its frame value over each interval and ``dt`` is explicit (1/fps; the paper's
eq. 6 is written with dt = 1).

Two departures for coefficients reconstructed from 2-D landmarks (docs/physics_method.md):

* ``initial_velocity="fit"`` (the experiment's default): ``c'(0)`` is the least-squares slope of
  the first ``velocity_frames`` frames. Reconstructed ``c(t)`` jitters from frame to frame by
  about as much as it varies (synthetic small BP4D-like set: rms frame difference 1.5 against a
  standard deviation of 1.8 per coefficient), and the paper's two-frame difference, extrapolated
  over a T = 16 window, then dominates ``L_3d`` (mean 4,800 for zero force, against 470 with the
  4-frame slope) with an error no per-frame force can cancel: forces are regressed from one
  frame's code and cannot see the next frame's noise.
* ``mass_floor``: the regressed relative mass is ``L L^T + (floor + rho ||L L^T||_F) I`` so its
  smallest eigenvalue is at least ``floor`` times the template's (a bare Cholesky diagonal floor
  does not bound it: large off-diagonal entries make ``L L^T`` nearly singular, the accelerations
  blow up and the first model of the default run to do so went to NaN within 200 steps). The
  margin ``rho ||L L^T||_F`` makes the bound hold for the float32 ``M`` the network returns, by
  construction: ``M0`` is ill-conditioned (cond ~ 3e4 at 400 vertices), and rounding
  ``C R C^T`` to float32 moves the eigenvalues of the relative mass by up to
  ``rho ||R||_F`` (see :func:`mass_rounding_margin`); without the margin a wild regressor output
  (``||R|| ~ 1e5``) left the smallest eigenvalue at 0.0496 for a floor of 0.05.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float

from ...nn import MLP, SpiralEncoder
from ...physics import (
    ReducedModel,
    cholesky_from_mass,
    euler_paper,
    mass_from_cholesky,
    simulate_reduced,
    simulate_reduced_exact,
)
from ._template import PhysicsTemplate


__all__ = [
    "FEATURES",
    "FORCE_MODES",
    "FORCE_SOURCES",
    "INITIAL_VELOCITIES",
    "MASS_SOURCES",
    "PhysicsAUNet",
    "initial_velocity",
]

FEATURES = ("force", "position", "geometry", "image")
FORCE_MODES = ("activations", "vectors")
# where the per-frame forces come from (issue 17): the regressor of eq. 8 ("network"), the physics
# inversion of the window's coefficients given as an input ("inversion", no force regressor), or
# the regressor fed with that inversion beside the mesh code ("both")
FORCE_SOURCES = ("network", "inversion", "both")
# the decoder's generalized mass: regressed per window (eq. 8, "network") or the template's M0
MASS_SOURCES = ("network", "template")
DYNAMICS = ("paper", "galerkin")
INITIAL_VELOCITIES = ("paper", "fit")


def initial_velocity(
    c: Float[Array, "T K"], *, dt: float, method: str = "paper", frames: int = 4
) -> Float[Array, " K"]:
    """The decoder's initial velocity ``c'(0)`` from observed coefficients (seed 001, eq. 10 text).

    Args:
        c: (T, K) observed coefficients of the window, T >= 2.
        dt: frame interval (s).
        method: ``"paper"``: ``(c(dt) - c(0)) / dt``; ``"fit"``: the least-squares slope of the
            first ``min(frames, T)`` frames (robust to frame-to-frame reconstruction noise).
        frames: frames of the ``"fit"`` line (>= 2).

    Returns:
        (K,) velocity.
    """
    if method == "paper":
        return (c[1] - c[0]) / dt
    n = min(int(frames), c.shape[0])
    t = jnp.arange(n, dtype=c.dtype) - (n - 1) / 2.0
    return jnp.einsum("t,tk->k", t, c[:n]) / (jnp.sum(t * t) * dt)


def mass_rounding_margin(chol: np.ndarray, *, dtype=np.float32) -> float:
    r"""Bound on how far rounding ``M = C R C^T`` to ``dtype`` moves the relative mass.

    With ``C`` the Cholesky factor of the template's mass ``M0`` and ``R`` the relative mass, the
    computed ``M`` seen in the template's frame, ``C^{-1} fl(M) C^{-T}``, differs from ``R`` by at
    most ``rho ||R||_F`` in the 2-norm, to first order in the unit roundoff ``u``:

    .. math::

        \rho = 2 k u \left(\| |C^{-1}| |C| \|_2^2 + \sqrt{k}\right),

    from the rounding of the two products (``|E| <= k u |C| |R| |C^T|`` each; Higham, *Accuracy
    and Stability of Numerical Algorithms*, §3.5), of ``L L^T`` and of ``C`` itself, with a
    factor 2 of safety. Adding ``rho ||R||_F`` to the floor therefore keeps the smallest
    eigenvalue of the returned array's relative mass above the floor whatever the CPU's
    rounding. For the 400-vertex template ``|| |C^{-1}| |C| ||_2 = 16.7`` and in float32
    ``rho = 5.7e-4``.

    Args:
        chol: (K, K) lower Cholesky factor of the template's mass, float64.
        dtype: the dtype ``M`` is computed in.

    Returns:
        ``rho`` as a Python float.
    """
    k = chol.shape[0]
    u = float(np.finfo(dtype).eps) / 2
    amplification = np.linalg.norm(np.abs(np.linalg.inv(chol)) @ np.abs(chol), 2) ** 2
    return float(2 * k * u * (amplification + np.sqrt(k)))


def _max_frequency(template: PhysicsTemplate) -> float:
    """The fastest angular frequency (rad/s) of the template's ``M0 c'' + K c = 0``."""
    red = template.reduced
    m, k = np.asarray(red.mass, np.float64), np.asarray(red.stiffness, np.float64)
    return float(np.sqrt(np.max(np.abs(np.linalg.eigvals(np.linalg.solve(m, k))))))


def _force_scale(template: PhysicsTemplate, force_mode: str, dynamics: str) -> float:
    """Output scale of the force regressor, so that unit network outputs are physical-sized.

    ``galerkin`` + activations: the activation whose static response ``K^-1 g a`` moves the
    coefficients by about one unit (median over muscles). Otherwise: the force that accelerates
    the coefficients by about 25 units/s^2 through ``M0^-1`` (an intensity change of 2-3 within
    ~0.3 s, a typical AU onset), median over muscles (and axes).
    """
    red = template.reduced
    if force_mode == "activations":
        maps = np.asarray(red.force_map, np.float64)  # (K, M)
    else:
        maps = (
            np.asarray(red.muscle_maps, np.float64)
            .transpose(1, 0, 2)
            .reshape(template.n_coefficients, -1)
        )  # (K, 3M)
    if dynamics == "galerkin" and force_mode == "activations":
        response = np.linalg.solve(np.asarray(red.stiffness, np.float64), maps)
        target = 1.0
    else:
        response = np.linalg.solve(np.asarray(red.mass, np.float64), maps)
        target = 25.0
    norms = np.linalg.norm(response, axis=0)
    return float(target / np.median(norms[norms > 0]))


class PhysicsAUNet(nnx.Module):
    """Mesh encoder -> forces and mass -> ODE decoder, and the AU head (seed 001, eqs. 7-12).

    Args:
        template: the :class:`PhysicsTemplate` (basis, reduced skin, mesh hierarchy).
        n_aus: R, AUs predicted.
        features: per-frame inputs of the AU head, a subset of :data:`FEATURES`.
        force_mode: ``"vectors"`` (paper-style F(t), M x 3) or ``"activations"`` (a(t) >= 0, M).
            The paper's dynamics (eq. 5) has no restoring force, so a face returning to neutral
            needs forces of either sign: pair ``"paper"`` with ``"vectors"``. Non-negative
            activations need the elastic term of ``"galerkin"``.
        dynamics: ``"paper"`` (eq. 5) or ``"galerkin"`` (with the template's K and D).
        solver: ``"euler"`` (eq. 6), ``"exact"`` (the zero-order-hold propagator of the linear
            reduced model, :func:`aujax.physics.simulate_reduced_exact`: stable at any dt, the
            choice for ``galerkin``) or a diffrax solver name (``"heun"``, ``"tsit5"``, ...).
        dt: frame interval (s).
        channels: spiral-encoder channels per level.
        latent: size of z3d.
        hidden: hidden width of the regressor and the AU head.
        image_features: size of z2d (required when ``"image"`` is a feature).
        mass_eps: floor on the mass factor's diagonal.
        mass_floor: the relative mass is ``L L^T + (mass_floor + rho ||L L^T||_F) I``
            (smallest eigenvalue >= ``mass_floor`` times the template's mass, also after
            float32 rounding, :func:`mass_rounding_margin`); 0 gives the bare Cholesky form.
        initial_velocity: ``"paper"`` (two-frame difference) or ``"fit"`` (least-squares slope
            of the first ``velocity_frames`` frames), see :func:`initial_velocity`.
        velocity_frames: frames of the ``"fit"`` slope.
        force_source: :data:`FORCE_SOURCES`: ``"network"`` (eq. 8's regressor), ``"inversion"``
            (the forces are the activations ``a_inv`` passed to :meth:`__call__`, the physics
            inversion of the coefficients, :func:`aujax.physics.invert_activations`; no force
            regressor) or ``"both"`` (the regressor sees ``a_inv`` beside the mesh code).
            Anything but ``"network"`` needs ``force_mode="activations"``.
        mass_source: :data:`MASS_SOURCES`: ``"network"`` (regressed per window, eq. 8) or
            ``"template"`` (the template's M0; no mass regressor).
        head_norm: normalise each feature group of the AU head's input (LayerNorm per group) so
            that no group dominates by its units (forces, coefficients and codes differ by orders
            of magnitude).
        rngs: parameter initialisation streams.
    """

    def __init__(
        self,
        template: PhysicsTemplate,
        *,
        n_aus: int,
        features: Sequence[str] = ("force", "position"),
        force_mode: str = "vectors",
        dynamics: str = "paper",
        solver: str = "euler",
        dt: float = 1.0 / 25.0,
        channels: Sequence[int] = (16, 32),
        latent: int = 32,
        hidden: int = 64,
        image_features: int = 0,
        mass_eps: float = 1e-3,
        mass_floor: float = 0.0,
        initial_velocity: str = "paper",
        velocity_frames: int = 4,
        force_source: str = "network",
        mass_source: str = "network",
        head_norm: bool = False,
        rngs: nnx.Rngs,
    ):
        features = tuple(features)
        bad = [f for f in features if f not in FEATURES]
        if bad or not features or len(set(features)) != len(features):
            raise ValueError(f"features must be distinct names from {FEATURES}, got {features}.")
        if force_mode not in FORCE_MODES:
            raise ValueError(f"force_mode must be one of {FORCE_MODES}, got {force_mode!r}.")
        if dynamics not in DYNAMICS:
            raise ValueError(f"dynamics must be one of {DYNAMICS}, got {dynamics!r}.")
        if "image" in features and image_features < 1:
            raise ValueError("features include 'image': image_features must be >= 1.")
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got {dt}.")
        if initial_velocity not in INITIAL_VELOCITIES:
            raise ValueError(
                f"initial_velocity must be one of {INITIAL_VELOCITIES}, got {initial_velocity!r}."
            )
        if not 0 <= mass_floor < 1:
            raise ValueError(f"mass_floor must be in [0, 1), got {mass_floor}.")
        if int(velocity_frames) < 2:
            raise ValueError(f"velocity_frames must be >= 2, got {velocity_frames}.")
        if force_source not in FORCE_SOURCES:
            raise ValueError(f"force_source must be one of {FORCE_SOURCES}, got {force_source!r}.")
        if force_source != "network" and force_mode != "activations":
            raise ValueError(f"force_source={force_source!r} gives directed activations: it needs "
                             f"force_mode='activations', got {force_mode!r}.")  # fmt: skip
        if mass_source not in MASS_SOURCES:
            raise ValueError(f"mass_source must be one of {MASS_SOURCES}, got {mass_source!r}.")
        k, m = template.n_coefficients, template.n_muscles
        # the encoder holds the mesh hierarchy; one copy per array (a donated state must not
        # hold the same buffer twice)
        self.template = nnx.data(template.replace(hierarchy=None))
        self.features = features
        self.force_mode, self.dynamics, self.solver = force_mode, dynamics, solver
        self.dt, self.mass_eps, self.mass_floor = float(dt), float(mass_eps), float(mass_floor)
        self.initial_velocity, self.velocity_frames = initial_velocity, int(velocity_frames)
        self.force_source, self.mass_source = force_source, mass_source
        self.force_scale = _force_scale(template, force_mode, dynamics)
        self.n_aus, self.image_features = int(n_aus), int(image_features)
        if solver == "euler" and dynamics == "galerkin":
            omega = _max_frequency(template)
            if omega * dt > 1.0:
                raise ValueError(
                    f"solver='euler' is unstable for the galerkin dynamics at dt={dt:.3g} s: the "
                    f"template's fastest mode has omega = {omega:.0f} rad/s (omega dt = "
                    f"{omega * dt:.1f} > 1); use solver='exact' or a diffrax solver such as "
                    "'tsit5'."
                )
        self.encoder = SpiralEncoder(
            template.hierarchy, in_features=3, channels=channels, latent=latent, rngs=rngs
        )
        self.code_norm = nnx.LayerNorm(latent, rngs=rngs)
        chol = np.linalg.cholesky(np.asarray(template.reduced.mass, np.float64))
        self.mass_scale = nnx.data(jnp.asarray(chol, jnp.float32))
        self.mass_margin = mass_rounding_margin(chol, dtype=np.float32)
        n_force = m if force_mode == "activations" else 3 * m
        n_in = latent + (m if force_source == "both" else 0)
        self.force_head = (  # None: the inversion gives the forces
            MLP((n_in, hidden, n_force), activation="elu", rngs=rngs)
            if force_source != "inversion"
            else None
        )
        self.mass_head = (  # None: the template's mass
            MLP((latent, hidden, k * k), activation="elu", rngs=rngs)
            if mass_source == "network"
            else None
        )
        self._initialise_heads(template, scale=0.01)
        sizes = {"force": n_force, "position": k, "geometry": latent, "image": image_features}
        self.head_norm = bool(head_norm)
        for f in features if head_norm else ():
            setattr(self, f"norm_{f}", nnx.LayerNorm(sizes[f], rngs=rngs))
        self.au_head = MLP(
            (sum(sizes[f] for f in features), hidden, n_aus), activation="relu", rngs=rngs
        )

    def _initialise_heads(self, template: PhysicsTemplate, *, scale: float) -> None:
        """Starts at physically sensible outputs: the template's mass ``M0`` and weak forces.

        The last layers get small kernels, the mass head's bias the identity factor (so
        ``M^B = M0`` at the start, see :meth:`mass`) and the force head's bias -4 for activations
        (softplus(-4) ~ 0.02) or 0 for vectors, so the untrained decoder extrapolates ``c(t)``
        at constant velocity instead of exploding.
        """
        k = template.n_coefficients
        # L L^T = x I with x + floor + rho ||x I||_F = 1, so the relative mass starts at I
        x = (1.0 - self.mass_floor) / (1.0 + self.mass_margin * k**0.5) if self.mass_floor else 1.0
        eye = x * jnp.eye(k, dtype=jnp.float32)
        factor = cholesky_from_mass(eye, eps=self.mass_eps)
        for head, bias in (
            (self.mass_head, factor.reshape(-1)),
            (self.force_head, None),
        ):
            if head is None:
                continue
            last = head.layers[-1]
            last.kernel[...] = last.kernel[...] * scale
            if bias is None:
                fill = -4.0 if self.force_mode == "activations" else 0.0
                bias = jnp.full(last.bias.shape, fill, last.bias.dtype)
            last.bias[...] = bias.astype(last.bias.dtype)

    # -- pieces ------------------------------------------------------------------------------------
    def meshes(self, c: Float[Array, "*b T K"]) -> Float[Array, "*b T n 3"]:
        """``u(t) = B c(t)`` on the template (seed 001, eq. 3)."""
        return jnp.einsum("...k,knd->...nd", c, self.template.basis)

    def forces(
        self, z3d: Float[Array, "*b T L"], a_inv: Float[Array, "*b T M"] | None = None
    ) -> Array:
        """Muscle forces of eq. 8: (..., T, M) activations >= 0 or (..., T, M, 3) vectors.

        With ``force_source="inversion"`` they are ``a_inv`` itself; with ``"both"`` the
        regressor sees ``a_inv`` (in units of the output scale) beside the code.
        """
        if self.force_source == "inversion":
            return a_inv
        x = z3d
        if self.force_source == "both":
            x = jnp.concatenate([z3d, (a_inv / self.force_scale).astype(z3d.dtype)], axis=-1)
        raw = self.force_head(x)
        if self.force_mode == "activations":
            return self.force_scale * jax.nn.softplus(raw)
        return self.force_scale * raw.reshape(*raw.shape[:-1], self.template.n_muscles, 3)

    def mass(self, z3d: Float[Array, "*b T L"]) -> Float[Array, "*b K K"]:
        """One SPD generalized mass per window from the time-averaged code (eq. 8).

        ``M^B = C (L L^T + f I) C^T`` with C the Cholesky factor of the template's mass ``M0``,
        ``L L^T`` the SPD output of :func:`aujax.physics.mass_from_cholesky` and f the
        ``mass_floor`` plus the float32 rounding margin of :func:`mass_rounding_margin` (so the
        floor holds for the returned float32 array, not only in exact arithmetic): the network
        regresses the mass relative to the physical one (``M0`` is ill-conditioned, cond ~ 3e4
        at 400 vertices, so absolute entries would be a poorly scaled regression target).
        """
        k = self.template.n_coefficients
        if self.mass_source == "template":
            m0 = jnp.asarray(self.template.reduced.mass, z3d.dtype)
            return jnp.broadcast_to(m0, (*z3d.shape[:-2], k, k))
        raw = self.mass_head(jnp.mean(z3d, axis=-2)).reshape(*z3d.shape[:-2], k, k)
        c = self.mass_scale

        eye = jnp.eye(k, dtype=raw.dtype)

        def fn(r):
            rel = mass_from_cholesky(r, eps=self.mass_eps)
            if self.mass_floor:
                floor = self.mass_floor + self.mass_margin * jnp.sqrt(jnp.sum(rel * rel))
                rel = rel + floor * eye
            return c @ rel @ c.T

        for _ in range(raw.ndim - 2):
            fn = jax.vmap(fn)
        return fn(raw)

    def generalized_force(self, forces: Array) -> Float[Array, "*b T K"]:
        """``Q = g a`` or ``Q = sum_m G_m F_m`` (seed 001, eq. 9)."""
        red = self.template.reduced
        if self.force_mode == "activations":
            return jnp.einsum("km,...m->...k", red.force_map, forces)
        return jnp.einsum("mkj,...mj->...k", red.muscle_maps, forces)

    def decode(
        self, mass: Float[Array, "K K"], c: Float[Array, "T K"], q: Float[Array, "T K"]
    ) -> Float[Array, "T K"]:
        """The ODE decoder of eq. 10 for one window: ``c~(t)`` from ``c(0)``, ``c(dt)`` and Q."""
        red = self.template.reduced
        if self.dynamics == "paper":
            model = ReducedModel(mass=mass, form="paper")
        else:
            model = ReducedModel(
                mass=mass, stiffness=red.stiffness, damping=red.damping, form="galerkin"
            )
        cdot0 = initial_velocity(c, dt=self.dt, method=self.initial_velocity,
                                 frames=self.velocity_frames)  # fmt: skip
        if self.solver == "euler":
            # euler_paper takes c(dt) and forms (c(dt) - c(0)) / dt: hand it c(0) + dt c'(0)
            return euler_paper(model, c[0], c[0] + self.dt * cdot0, q, dt=self.dt)
        if self.solver == "exact":
            return simulate_reduced_exact(model, c[0], cdot0, q, dt=self.dt)[0]
        cs, _ = simulate_reduced(model, c[0], cdot0, q, dt=self.dt, solver=self.solver)
        return cs

    # -- forward -----------------------------------------------------------------------------------
    def __call__(
        self,
        c: Float[Array, "B T K"],
        z2d: Float[Array, "B T D"] | None = None,
        a_inv: Float[Array, "B T M"] | None = None,
    ) -> dict:
        """Runs the branch on a batch of windows.

        Args:
            c: (B, T, K) reconstructed blendshape coefficients, T >= 2.
            z2d: (B, T, D) frozen image features (when ``"image"`` is a feature).
            a_inv: (B, T, M) the physics inversion's activations of the frames (when
                ``force_source`` is ``"inversion"`` or ``"both"``).

        Returns:
            dict with ``logits`` (B, T, R), ``forces`` (B, T, M) or (B, T, M, 3), ``c_tilde``
            (B, T, K), ``mass`` (B, K, K) and ``z3d`` (B, T, L).
        """
        if c.ndim != 3 or c.shape[-1] != self.template.n_coefficients or c.shape[1] < 2:
            raise ValueError(
                f"c must have shape (B, T >= 2, K = {self.template.n_coefficients}), got {c.shape}."
            )
        if "image" in self.features:
            if z2d is None or z2d.shape != (*c.shape[:2], self.image_features):
                got = None if z2d is None else z2d.shape
                raise ValueError(
                    f"z2d must have shape {(*c.shape[:2], self.image_features)}, got {got}."
                )
        if self.force_source != "network":
            want = (*c.shape[:2], self.template.n_muscles)
            if a_inv is None or a_inv.shape != want:
                got = None if a_inv is None else a_inv.shape
                raise ValueError(f"force_source={self.force_source!r}: a_inv must have shape "
                                 f"{want}, got {got}.")  # fmt: skip
        z3d = self.code_norm(self.encoder(self.meshes(c)))
        forces = self.forces(z3d, a_inv)
        mass = self.mass(z3d)
        q = self.generalized_force(forces)
        c_tilde = jax.vmap(self.decode)(mass, c, q)
        flat = forces.reshape(*forces.shape[:2], -1)
        parts = {"force": flat, "position": c, "geometry": z3d, "image": z2d}
        if self.head_norm:
            parts = {f: getattr(self, f"norm_{f}")(parts[f]) for f in self.features}
        logits = self.au_head(jnp.concatenate([parts[f] for f in self.features], axis=-1))
        return {"logits": logits, "forces": forces, "c_tilde": c_tilde, "mass": mass, "z3d": z3d}
