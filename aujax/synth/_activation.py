r"""AU intensities -> muscle activations for the synthetic generator (DESIGN §6.1, second stage).

The generator's AU trajectories (:func:`aujax.synth.au_trajectory`) say *what* a subject's face does;
the muscles that drive the full spring-mass skin need *activations*. Three steps:

1. **Neural excitation** ``e(t) = g * (c(t) @ W)`` (M,): the AU intensities c(t) (T, K) map to
   muscle drive through the blendshape model's ``au_activations`` W (K, M) — the activations that
   built each AU blendshape, so the same expression is reproduced by the full model — scaled per
   muscle by the subject's gains g (physiology varies, :class:`aujax.face.Subject`).
2. **Excitation noise**: a smooth multiplicative perturbation ``exp(sigma * n(t))`` with n an
   Ornstein-Uhlenbeck process of correlation time ``noise_time`` (motor-unit recruitment is not
   perfectly steady), so an AU held at apex still shimmers slightly.
3. **Electromechanical delay** (optional, ``delay`` s): the excitation reaches the contractile
   machinery ``delay`` later, ``e(t - delay)`` by linear interpolation between frames (the first
   frame held before the start); 0 skips it.
4. **Activation dynamics**: first-order excitation-contraction coupling (Zajac 1989, "Muscle and
   tendon: properties, models, scaling, and application to biomechanics and motor control"),
   ``da/dt = (e - a) / tau``, with a faster time constant while activating than while relaxing
   (``tau_act < tau_deact``). It is integrated exactly for an excitation held constant over each
   frame interval: ``a_{t+1} = e_t + (a_t - e_t) exp(-dt / tau)``.

Steps 2-4 are :func:`activation_dynamics`, so that an excitation built otherwise (the realism
options of :mod:`aujax.synth._realism`: asymmetric actions, subject synergies, co-contraction) goes
through the same noise and dynamics. Host-side NumPy, deterministic from the
``numpy.random.Generator`` passed in.
"""

import dataclasses

import numpy as np


__all__ = [
    "ActivationDynamics",
    "activation_dynamics",
    "muscle_activations",
    "muscle_excitation",
]


@dataclasses.dataclass(frozen=True)
class ActivationDynamics:
    """Parameters of the excitation noise and first-order activation dynamics.

    Attributes:
        tau_act: activation time constant (s) while the excitation exceeds the activation.
        tau_deact: deactivation time constant (s) otherwise. Zajac (1989) gives ~10-20 ms and
            ~30-60 ms for limb muscles; facial muscles are fast, so we take the low end.
        noise_sd: sigma of the multiplicative log-normal excitation noise (0 switches it off).
        noise_time: correlation time (s) of the noise (Ornstein-Uhlenbeck).
        delay: electromechanical delay (s) between excitation and activation dynamics (0: none).
            The defaults here are the generator's historical values (no delay); the realistic
            values of the presets are :data:`aujax.synth.REALISTIC_DYNAMICS` (docs/data.md).
    """

    tau_act: float = 0.015
    tau_deact: float = 0.04
    noise_sd: float = 0.05
    noise_time: float = 0.3
    delay: float = 0.0

    def __post_init__(self):
        for name in ("tau_act", "tau_deact", "noise_time"):
            value = getattr(self, name)
            if not value > 0.0:
                raise ValueError(f"{name} must be > 0 (seconds), got {value}.")
        if not self.noise_sd >= 0.0:
            raise ValueError(f"noise_sd must be >= 0, got {self.noise_sd}.")
        if not (np.isfinite(self.delay) and self.delay >= 0.0):
            raise ValueError(f"delay must be finite and >= 0 (seconds), got {self.delay}.")


def checked_intensity(intensity, au_map, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(T, K) intensities and (K, M) AU-to-muscle map as float64, validated (clear errors naming
    ``intensity`` and the map's argument ``name``)."""
    c = np.asarray(intensity, dtype=np.float64)
    w = np.asarray(au_map, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"{name} must have shape (K, M), got {w.shape}.")
    if c.ndim != 2 or c.shape[1] != w.shape[0]:
        raise ValueError(f"intensity must have shape (T, K) = (T, {w.shape[0]}), got {c.shape}.")
    if not np.all(np.isfinite(c)) or np.any(c < 0.0):
        raise ValueError("intensity must be finite and >= 0.")
    return c, w


def muscle_excitation(intensity, au_activations, *, gains=None) -> np.ndarray:
    """Neural excitation ``g * (c @ W)`` (T, M) of AU intensities (step 1 of the module docstring).

    Args:
        intensity: (T, K) AU intensities (0-5 scale), K = rows of ``au_activations``.
        au_activations: (K, M) activations per unit AU intensity (``BlendshapeModel.au_activations``).
        gains: optional (M,) positive per-muscle gains of the subject.

    Returns:
        (T, M) non-negative excitations.
    """
    c, w = checked_intensity(intensity, au_activations, name="au_activations")
    return np.maximum(with_gains(c @ w, gains), 0.0)


def with_gains(excitation: np.ndarray, gains) -> np.ndarray:
    """(T, M) excitation times the subject's (M,) positive gains (None: unchanged)."""
    if gains is None:
        return excitation
    g = np.asarray(gains, dtype=np.float64)
    m = excitation.shape[1]
    if g.shape != (m,):
        raise ValueError(f"gains must have shape (M,) = ({m},), got {g.shape}.")
    if np.any(g <= 0.0) or not np.all(np.isfinite(g)):
        raise ValueError("gains must be finite and > 0.")
    return excitation * g[None]


def _ou_noise(n_frames: int, n_muscles: int, *, dt: float, time: float, rng) -> np.ndarray:
    """Unit-variance Ornstein-Uhlenbeck noise (T, M), stationary from the first frame."""
    rho = np.exp(-dt / time)
    out = np.empty((n_frames, n_muscles))
    out[0] = rng.standard_normal(n_muscles)
    kick = np.sqrt(1.0 - rho * rho)
    for t in range(1, n_frames):
        out[t] = rho * out[t - 1] + kick * rng.standard_normal(n_muscles)
    return out


def _delayed(e: np.ndarray, delay_frames: float) -> np.ndarray:
    """``e`` (T, M) read ``delay_frames`` earlier, linear between frames, frame 0 held before."""
    t = np.arange(e.shape[0]) - delay_frames
    k = np.floor(t)
    frac = (t - k)[:, None]
    lo = np.clip(k.astype(np.int64), 0, e.shape[0] - 1)
    hi = np.clip(k.astype(np.int64) + 1, 0, e.shape[0] - 1)
    return (1.0 - frac) * e[lo] + frac * e[hi]


def activation_dynamics(
    excitation,
    *,
    fps: float,
    rng: np.random.Generator,
    dynamics: ActivationDynamics | None = None,
    initial=None,
) -> np.ndarray:
    """Steps 2-4 of the module docstring: excitation noise, delay and first-order dynamics.

    Args:
        excitation: (T, M) non-negative neural excitations at the frame times.
        fps: frame rate.
        rng: NumPy generator for the excitation noise ((T, M) normal draws when ``noise_sd > 0``).
        dynamics: :class:`ActivationDynamics` (defaults if None).
        initial: optional (M,) activation at the first frame (default: the first excitation).

    Returns:
        (T, M) activations >= 0; frame t holds the activation at time t / fps.
    """
    if not fps > 0.0:
        raise ValueError(f"fps must be > 0, got {fps}.")
    dyn = ActivationDynamics() if dynamics is None else dynamics
    e = np.asarray(excitation, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"excitation must have shape (T, M), got {e.shape}.")
    n_frames, n_muscles = e.shape
    dt = 1.0 / fps
    if dyn.noise_sd > 0.0 and n_frames:
        noise = _ou_noise(n_frames, n_muscles, dt=dt, time=dyn.noise_time, rng=rng)
        e = e * np.exp(dyn.noise_sd * noise - 0.5 * dyn.noise_sd**2)  # mean-preserving
    if dyn.delay > 0.0 and n_frames:
        e = _delayed(e, dyn.delay * fps)
    a = np.empty_like(e)
    if not n_frames:
        return a
    if initial is None:
        a[0] = e[0]
    else:
        a0 = np.asarray(initial, dtype=np.float64)
        if a0.shape != (n_muscles,) or np.any(a0 < 0.0):
            raise ValueError(f"initial must have shape ({n_muscles},) and be >= 0.")
        a[0] = a0
    decay_act, decay_deact = np.exp(-dt / dyn.tau_act), np.exp(-dt / dyn.tau_deact)
    for t in range(n_frames - 1):
        decay = np.where(e[t] > a[t], decay_act, decay_deact)
        a[t + 1] = e[t] + (a[t] - e[t]) * decay
    return a


def muscle_activations(
    intensity,
    au_activations,
    *,
    fps: float,
    rng: np.random.Generator,
    gains=None,
    dynamics: ActivationDynamics | None = None,
    initial=None,
) -> np.ndarray:
    """Muscle activations (T, M) driving the full skin model for an AU intensity sequence.

    Args:
        intensity: (T, K) AU intensities at the frame times.
        au_activations: (K, M) activations per unit AU intensity.
        fps: frame rate (the activations are sampled at the same frames).
        rng: NumPy generator for the excitation noise.
        gains: optional (M,) subject muscle gains.
        dynamics: :class:`ActivationDynamics` (defaults if None).
        initial: optional (M,) activation at the first frame (default: the first excitation, i.e.
            the sequence starts at rest in its first expression).

    Returns:
        (T, M) activations >= 0; frame t holds the activation at time t / fps.
    """
    if not fps > 0.0:
        raise ValueError(f"fps must be > 0, got {fps}.")
    e = muscle_excitation(intensity, au_activations, gains=gains)
    return activation_dynamics(e, fps=fps, rng=rng, dynamics=dynamics, initial=initial)
